"""``os.fork()`` with sync faces open: the child gets fresh portals, never a hang."""

from __future__ import annotations

import json
import os
import signal
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from anyservices import blocking
from anyservices._core._errors import ServiceClosedError
from anyservices._core._portal import Backend
from tests.core._toy import ToyConfig, ToyService

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

BACKENDS: list[Backend] = ["asyncio", "trio"]


def in_child(body: Callable[[], Any], *, timeout: float = 20.0) -> Any:
    """Run ``body`` in a forked child and return what it returned (JSON), bounded in time."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a threaded process may deadlock: the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            payload = json.dumps({"ok": body()})
        except BaseException as exc:
            payload = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
            code = 1
        os.write(write_end, payload.encode())
        os._exit(code)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    try:
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung")
            time.sleep(0.01)
        chunks: list[bytes] = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_end)
    outcome: dict[str, Any] = json.loads(b"".join(chunks) or b'{"error": "no answer"}')
    if "error" in outcome:
        pytest.fail(f"the child failed: {outcome['error']}")
    return outcome["ok"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_child_gets_a_fresh_portal_and_old_faces_refuse(backend: Backend) -> None:
    opener = blocking(ToyService(ToyConfig()), backend=backend)
    with opener as toy:
        assert toy.echo("parent") == "parent"

        def child() -> dict[str, object]:
            seen: dict[str, object] = {}
            try:
                toy.echo("old face")
            except ServiceClosedError as exc:
                seen["old"] = str(exc)
            seen["old_repr"] = repr(toy.portal)
            opener.close()  # leaving the old face's block releases nothing, quietly
            with blocking(ToyService(ToyConfig()), backend=backend) as fresh:
                seen["new"] = fresh.echo("child")
                with fresh.scoped() as inside:
                    seen["scoped"] = inside
                seen["count"] = list(fresh.count(3))
            with blocking(ToyService(ToyConfig()), backend=backend) as again:
                seen["again"] = again.echo("again")
            return seen

        seen = in_child(child)
        assert "os.fork()" in str(seen["old"])
        assert "forked" in str(seen["old_repr"])
        assert seen["new"] == "child"
        assert seen["scoped"] == "inside"
        assert seen["count"] == [0, 1, 2]
        assert seen["again"] == "again"
        # The parent's face is untouched.
        assert toy.echo("still the parent") == "still the parent"


@pytest.mark.parametrize("backend", BACKENDS)
def test_old_face_iterators_and_blocks_in_the_child_do_not_hang(backend: Backend) -> None:
    with blocking(ToyService(ToyConfig()), backend=backend) as toy:
        iterator = iter(toy.count(5))
        assert next(iterator) == 0

        def child() -> list[str]:
            errors: list[str] = []
            for attempt in (
                lambda: next(iterator),
                lambda: toy.scoped().__enter__(),
                lambda: toy.echo("x"),
            ):
                try:
                    attempt()
                except ServiceClosedError as exc:
                    errors.append(type(exc).__name__)
            return errors

        assert in_child(child) == ["ServiceClosedError"] * 3
        assert next(iterator) == 1
