"""The face harness: an AsyncView presents a sync face with the async API."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import cast

from anyservices.testing import AsyncView, Face, open_face
from tests.core._toy import SyncToy, ToyConfig, ToyService


async def test_properties_plain_methods_and_iteration(face: Face) -> None:
    async with open_face(face, ToyService(ToyConfig(port=7))) as toy:
        assert toy.label == "toy:7"
        child = toy.child()
        assert await child.echo("from the child") == "from the child"
        assert [i async for i in toy] == [0, 1]
        numbers = cast("AsyncGenerator[int, None]", toy.count(5))
        assert await numbers.__anext__() == 0
        await numbers.aclose()  # leaving early closes the iterator (its cursor)
        if face == "sync":
            assert isinstance(toy, AsyncView)
            assert isinstance(child, AsyncView)
            assert isinstance(toy.sync_face, SyncToy)
            assert toy.sync_face.label == "toy:7"
            assert "AsyncView" in repr(toy)


async def test_closing_an_iterator_without_close() -> None:
    from anyservices.testing import _AsyncIter  # noqa: PLC0415 -- the harness's own piece

    plain = _AsyncIter(iter([1, 2]))  # a list iterator has no close(): nothing to do
    assert await plain.__anext__() == 1
    await plain.aclose()
    assert await plain.__anext__() == 2
