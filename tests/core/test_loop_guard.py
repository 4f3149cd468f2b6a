"""A sync face called from a thread that runs an event loop fails, instead of blocking it."""

from __future__ import annotations

from collections.abc import Generator
from typing import cast

import anyio
import anyio.to_thread
import pytest
import sniffio

from anyservices import blocking
from anyservices._core._errors import AnyServicesError, SyncFaceInLoopError
from anyservices._core._portal import Backend
from anyservices._core._portal._registry import _portals
from anyservices.testing import Face, open_face
from tests.core._toy import ToyConfig, ToyService


@pytest.mark.parametrize("portal_backend", ["asyncio", "trio"])
async def test_calls_from_a_running_loop_fail_clearly(portal_backend: Backend) -> None:
    opener = blocking(ToyService(ToyConfig()), backend=portal_backend)
    toy = await anyio.to_thread.run_sync(opener.open)
    try:
        library = sniffio.current_async_library()
        with pytest.raises(SyncFaceInLoopError, match="use the async face here") as raised:
            toy.echo("blocked")
        assert isinstance(raised.value, RuntimeError)
        assert isinstance(raised.value, AnyServicesError)
        assert f"runs an event loop ({library})" in str(raised.value)
        with pytest.raises(SyncFaceInLoopError):
            toy.scoped().__enter__()
        with pytest.raises(SyncFaceInLoopError):
            next(iter(toy.count(3)))
        # From a worker thread of the same loop, the same face works.
        assert await anyio.to_thread.run_sync(toy.echo, "fine") == "fine"
        assert await anyio.to_thread.run_sync(lambda: list(toy.count(3))) == [0, 1, 2]
    finally:
        await anyio.to_thread.run_sync(opener.close)


async def test_opening_a_face_from_a_running_loop_fails_and_releases() -> None:
    users_before = dict(_portals)
    with pytest.raises(SyncFaceInLoopError, match="use the async face here"):
        blocking(ToyService(ToyConfig())).open()
    assert dict(_portals) == users_before


async def test_an_iterator_dropped_on_a_running_loop_is_closed_without_blocking() -> None:
    opener = blocking(ToyService(ToyConfig()))
    toy = await anyio.to_thread.run_sync(opener.open)
    try:
        iterator = cast("Generator[int, None, None]", toy.count(10))
        assert await anyio.to_thread.run_sync(next, iterator) == 0
        iterator.close()  # a generator: its cleanup (aclose on the portal) starts here
        assert await anyio.to_thread.run_sync(toy.echo, "after") == "after"
    finally:
        await anyio.to_thread.run_sync(opener.close)


async def test_the_face_harness_still_works(face: Face) -> None:
    async with open_face(face, ToyService(ToyConfig())) as toy:
        assert await toy.echo("harness") == "harness"
        async with toy.scoped() as inside:
            assert inside == "inside"
        assert [i async for i in toy.count(3)] == [0, 1, 2]
