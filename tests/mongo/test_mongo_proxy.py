"""The derived PyMongo surface (no network): what is derived, and the stream's bounded hops."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pymongo.asynchronous.change_stream import AsyncCollectionChangeStream
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase

from anyservices._core._service import State
from anyservices.mongo import MongoConfig, MongoService
from anyservices.mongo._proxy import AsyncIteratorProxy, _async_proxy_class, async_twin


@pytest.mark.parametrize(
    "api",
    [AsyncCollection, AsyncCursor, AsyncCommandCursor, AsyncCollectionChangeStream, AsyncDatabase],
)
def test_every_public_attribute_of_a_twin_is_a_property_or_a_method(api: type[Any]) -> None:
    for name in dir(api):
        if not name.startswith("_"):
            static = inspect.getattr_static(api, name)
            assert isinstance(static, property) or inspect.isfunction(static), name


def test_only_pymongos_sync_classes_have_twins() -> None:
    assert async_twin(dict) is None
    assert async_twin(MongoService) is None


class _Stream:
    def __init__(self, changes: list[dict[str, Any] | None]) -> None:
        self.changes = changes
        self.alive = True

    def try_next(self) -> dict[str, Any] | None:
        change = self.changes.pop(0)
        if not self.changes:
            self.alive = False
        return change


async def test_a_change_stream_waits_through_empty_hops_until_it_ends() -> None:
    service = MongoService(MongoConfig())
    service._state = State.OPEN
    stream = _async_proxy_class(AsyncCollectionChangeStream)(
        service, _Stream([None, {"n": 1}, None]), "c"
    )
    assert isinstance(stream, AsyncIteratorProxy)
    assert [change["n"] async for change in stream] == [1]
    assert service.statistics().calls == 3  # one hop per try_next, None included
    with pytest.raises(AttributeError):
        stream._private  # noqa: B018 -- attribute access is the test
