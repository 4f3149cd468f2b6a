"""The collection handle against the service and PyMongo (signatures only, no network)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection

from anyservices.mongo import MongoCollection, MongoService, SyncMongoCollection, SyncMongoService

PYMONGO_NAMES = {name for name in dir(AsyncCollection) if not name.startswith("_")}


def _collection_methods(service: type[Any]) -> list[str]:
    """The service's data methods: public, first parameter ``collection_name``."""
    names: list[str] = []
    for name, member in inspect.getmembers(service, inspect.isfunction):
        parameters = list(inspect.signature(member).parameters)
        if not name.startswith("_") and parameters[1:2] == ["collection_name"]:
            names.append(name)
    names.remove("get_collection")  # the handle's maker, not a data method
    return names


BOUND = [n for n in _collection_methods(MongoService) if n not in PYMONGO_NAMES]


def test_the_bound_methods_are_the_ones_pymongo_lacks() -> None:
    assert set(BOUND) == {
        "find_iter",
        "find_many",
        "find_many_models",
        "find_one_model",
        "insert_many_models",
        "insert_one_model",
        "update_many_models",
        "update_one_model",
    }
    shared = set(_collection_methods(MongoService)) - set(BOUND)
    assert {"insert_one", "find_one", "watch", "aggregate", "bulk_write"} <= shared


@pytest.mark.parametrize(
    ("handle", "service"),
    [(MongoCollection, MongoService), (SyncMongoCollection, SyncMongoService)],
    ids=["async", "sync"],
)
@pytest.mark.parametrize("name", BOUND)
def test_a_bound_method_is_the_service_method_minus_collection_name(
    handle: type[Any], service: type[Any], name: str
) -> None:
    ours = inspect.signature(getattr(handle, name))
    theirs = inspect.signature(getattr(service, name))
    expected = [p for p in theirs.parameters.values() if p.name != "collection_name"]
    assert list(ours.parameters.values()) == expected
    assert ours.return_annotation == theirs.return_annotation
    assert inspect.iscoroutinefunction(getattr(handle, name)) == inspect.iscoroutinefunction(
        getattr(service, name)
    )


@pytest.mark.parametrize("name", sorted(PYMONGO_NAMES))
def test_every_pymongo_attribute_is_on_both_handles(name: str) -> None:
    template = inspect.getattr_static(AsyncCollection, name)
    ours = inspect.getattr_static(MongoCollection, name)
    sync = inspect.getattr_static(SyncMongoCollection, name)
    assert hasattr(Collection, name)
    if isinstance(template, property):
        assert isinstance(ours, property)
        assert isinstance(sync, property)
        return
    assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(template)
    assert not inspect.iscoroutinefunction(sync)
    assert ours.__doc__ == template.__doc__
    # The async handle advertises PyMongo's own signature (help(), IDEs).
    assert inspect.signature(ours) == inspect.signature(template)
