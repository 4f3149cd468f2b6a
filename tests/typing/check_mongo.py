"""Never executed: pins the public types of MongoService and its sync face."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from typing import Any, assert_type

import pydantic
from bson import ObjectId
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.cursor import Cursor

from anyservices import blocking
from anyservices.mongo import (
    BulkWriteResult,
    DeleteResult,
    InsertOneResult,
    MongoCollection,
    MongoConfig,
    MongoService,
    MongoSession,
    MongoStatistics,
    SyncMongoCollection,
    SyncMongoService,
    UpdateResult,
)


class User(pydantic.BaseModel):
    id: str | None = pydantic.Field(default=None, alias="_id")
    email: str


def check_sync_face() -> None:
    with blocking(MongoService(MongoConfig())) as mongo:
        assert_type(mongo, SyncMongoService)
        assert_type(mongo.ping(), dict[str, Any])
        assert_type(mongo.insert_one("c", {"a": 1}), InsertOneResult)
        assert_type(mongo.insert_many("c", [{"a": 1}], ordered=False), list[ObjectId])
        assert_type(mongo.find_one("c", {}, {"a": 1}), dict[str, Any] | None)
        assert_type(mongo.find_many("c", {}, sort=[("a", 1)], limit=2), list[dict[str, Any]])
        assert_type(mongo.find_iter("c", {}, batch_size=10), Iterator[dict[str, Any]])
        assert_type(mongo.watch("c"), Iterator[dict[str, Any]])
        assert_type(mongo.update_one("c", {}, {"$set": {"a": 2}}), UpdateResult)
        assert_type(mongo.update_many("c", {}, {"$set": {"a": 2}}, upsert=True), UpdateResult)
        assert_type(mongo.delete_one("c", {}), DeleteResult)
        assert_type(mongo.delete_many("c", {}), DeleteResult)
        assert_type(mongo.count_documents("c", {}), int)
        assert_type(mongo.aggregate("c", [{"$match": {}}]), list[dict[str, Any]])
        assert_type(mongo.create_index("c", "a", unique=True), str)
        assert_type(mongo.bulk_write("c", [{"delete_one": {"filter": {}}}]), BulkWriteResult)
        assert_type(mongo.transaction(), AbstractContextManager[MongoSession])
        with mongo.transaction() as session:
            assert_type(mongo.insert_one("c", {}, session), InsertOneResult)
        assert_type(mongo.run_transaction(lambda s: 1), int)
        assert_type(mongo.find_one_model("c", {}, User), User | None)
        assert_type(mongo.find_many_models("c", {}, User), list[User])
        assert_type(mongo.insert_one_model("c", User(email="e")), InsertOneResult)
        assert_type(mongo.insert_many_models("c", [User(email="e")]), list[ObjectId])
        assert_type(mongo.update_one_model("c", {}, User(email="e")), UpdateResult)
        assert_type(mongo.update_many_models("c", {}, User(email="e")), UpdateResult)
        assert_type(mongo.statistics(), MongoStatistics)
        users = mongo.get_collection("users")
        assert_type(users, SyncMongoCollection)
        assert_type(users.find_one({}), dict[str, Any] | None)
        assert_type(users.find({}), Cursor[dict[str, Any]])
        assert_type(users.distinct("a"), list[Any])
        assert_type(users.find_one_model({}, User), User | None)
        assert_type(users.find_iter({}), Iterator[dict[str, Any]])


async def check_async_face() -> None:
    async with MongoService(MongoConfig()) as mongo:
        assert_type(await mongo.insert_one("c", {}), InsertOneResult)
        assert_type(await mongo.find_one_model("c", {}, User), User | None)
        assert_type(mongo.find_iter("c", {}), AsyncIterator[dict[str, Any]])
        async with mongo.transaction() as session:
            assert_type(session, MongoSession)
        users = mongo.get_collection("c")
        assert_type(users, MongoCollection)
        assert_type(await users.find_one({}), dict[str, Any] | None)
        assert_type(users.find({}), AsyncCursor[dict[str, Any]])
        assert_type(await users.find_one_and_update({}, {"$set": {"a": 1}}), dict[str, Any] | None)
        assert_type(await users.find_many_models({}, User), list[User])

        async def body(session: MongoSession) -> int:
            return await mongo.count_documents("c", {}, session)

        assert_type(await mongo.run_transaction(body), int)
