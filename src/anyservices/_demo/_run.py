"""Runs the demo steps on each face and prints a short report."""

from __future__ import annotations

import os
import sys
import time

import anyio

from ..testing import Face, backend_of


def _configured() -> bool:
    return any(
        key.startswith("ANYSERVICES_") and key.endswith(("_URL", "_ENDPOINT")) for key in os.environ
    )


def _ensure_servers(start_servers: bool) -> None:
    if _configured() or not start_servers:
        return
    from ..devservers import ensure_started  # noqa: PLC0415 -- only when nothing is configured

    print("no servers configured: starting local ones (first time takes a minute) ...")
    os.environ.update(ensure_started())


def run_demo(faces: list[str], *, start_servers: bool = True) -> int:
    _ensure_servers(start_servers)
    for face in faces:
        started = time.perf_counter()
        if face == "sync":
            from .. import blocking  # noqa: PLC0415
            from ._steps import sync_steps  # noqa: PLC0415

            lines = sync_steps(blocking)
        else:
            from ._steps import async_steps  # noqa: PLC0415

            lines = anyio.run(async_steps, backend=backend_of(face))  # type: ignore[arg-type]
        elapsed = (time.perf_counter() - started) * 1000
        print(f"[{face}] done in {elapsed:.0f} ms")
        for line in lines:
            print(f"  {line}")
    sys.stdout.flush()
    return 0


__all__ = ("Face", "run_demo")
