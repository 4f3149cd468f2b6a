"""open_face's sync-face view: context managers and iterators keep the async API."""

from __future__ import annotations

from typing import Any, cast

from anyservices.testing import Face, open_face
from tests.core._toy import ToyConfig, ToyService


async def test_a_context_manager_and_an_iterator_to_its_end(face: Face) -> None:
    async with open_face(face, ToyService(ToyConfig(port=8))) as toy:
        async with toy.scoped() as inside:  # a `with` block on the sync face
            assert inside == "inside"
        counted = cast("Any", toy.count(3))
        assert counted.__aiter__() is counted
        assert [i async for i in counted] == [0, 1, 2]  # runs out: StopAsyncIteration
