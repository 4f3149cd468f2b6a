"""Helpers of the MongoService integration tests (a plain module: basenames are global)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, cast

import pymongo
import pytest
from pydantic import BaseModel, Field, SecretStr

from anyservices.mongo import MongoConfig

DATABASE = "anyservices_tests"
STREAM_COLLECTION = "stream_10k"
STREAM_SIZE = 10_000


class User(BaseModel):
    id: str | None = Field(default=None, alias="_id")
    email: str
    age: int = 0


def as_generator(iterator: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    """find_iter/watch are typed as AsyncIterator (their sync faces are Iterators) but are
    async generators (and the test harness's iterators have ``aclose`` too)."""
    return cast("AsyncGenerator[Any, None]", iterator)


def mongo_url(env: dict[str, str]) -> str:
    return env.get("ANYSERVICES_MONGO_URL", "mongodb://127.0.0.1:27030/?directConnection=true")


def make_config(env: dict[str, str], **overrides: Any) -> MongoConfig:
    return MongoConfig(url=SecretStr(mongo_url(env)), database=DATABASE, **overrides)


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def seed_stream_collection(env: dict[str, str]) -> None:
    """10k documents in one collection, written once per server with plain PyMongo."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_url(env))
    try:
        coll = client[DATABASE][STREAM_COLLECTION]
        if coll.count_documents({}) == STREAM_SIZE:
            return
        coll.drop()
        for start in range(0, STREAM_SIZE, 1000):
            coll.insert_many([{"n": n, "pad": "x" * 64} for n in range(start, start + 1000)])
    finally:
        client.close()


@pytest.fixture
def config(mongo_env: dict[str, str]) -> MongoConfig:
    return make_config(mongo_env)


@pytest.fixture
def coll(mongo_env: dict[str, str]) -> Iterator[str]:
    """A collection name of the test's own, dropped afterwards."""
    name = unique_name()
    yield name
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_url(mongo_env))
    try:
        client[DATABASE].drop_collection(name)
    finally:
        client.close()


@pytest.fixture(scope="session")
def stream_collection(mongo_env: dict[str, str]) -> str:
    seed_stream_collection(mongo_env)
    return STREAM_COLLECTION
