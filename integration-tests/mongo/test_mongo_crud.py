"""Every contract method on asyncio, trio and the sync face, against the local server."""

from __future__ import annotations

import logging

import pytest
from bson import ObjectId
from mongo_support import DATABASE, User, coll, config, unique_name
from pydantic import SecretStr
from pymongo import ASCENDING, DESCENDING, InsertOne, UpdateOne

from anyservices import ServiceClosedError
from anyservices.mongo import (
    BulkWriteResult,
    MongoCollection,
    MongoConfig,
    MongoConnectError,
    MongoDataError,
    MongoDuplicateKeyError,
    MongoService,
    UpdateResult,
)
from anyservices.testing import Face, open_face

__all__ = ("coll", "config")


async def test_ping_and_crud(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        assert await mongo.ping() is True
        first = await mongo.insert_one(coll, {"name": "a", "n": 1})
        assert ObjectId.is_valid(first)
        doc = await mongo.find_one(coll, {"_id": ObjectId(first)})
        assert doc is not None
        assert doc["name"] == "a"
        assert await mongo.find_one(coll, {"name": "missing"}) is None
        assert await mongo.find_one(coll, {"name": "a"}, {"_id": 0, "n": 1}) == {"n": 1}

        ids = await mongo.insert_many(coll, [{"name": "b", "n": n} for n in range(2, 7)])
        assert len(ids) == 5
        assert all(isinstance(i, str) for i in ids)
        assert await mongo.insert_many(coll, []) == []
        found = await mongo.find_many(
            coll, {"n": {"$gte": 2}}, {"_id": 0, "n": 1}, [("n", DESCENDING)], limit=2, skip=1
        )
        assert found == [{"n": 5}, {"n": 4}]
        everything = await mongo.find_many(coll, {}, sort=[("n", ASCENDING)])
        assert [d["n"] for d in everything] == [1, 2, 3, 4, 5, 6]

        updated = await mongo.update_one(coll, {"n": 1}, {"$set": {"name": "z"}})
        assert updated == UpdateResult(matched_count=1, modified_count=1, upserted_id=None)
        many = await mongo.update_many(coll, {"name": "b"}, {"$inc": {"n": 10}})
        assert (many.matched_count, many.modified_count) == (5, 5)
        upserted = await mongo.update_many(coll, {"name": "new"}, {"$set": {"n": 0}}, upsert=True)
        assert upserted.upserted_id is not None
        assert await mongo.count_documents(coll, {}) == 7
        assert await mongo.count_documents(coll, {"n": {"$gt": 10}}) == 5

        assert await mongo.delete_one(coll, {"name": "z"}) == 1
        assert await mongo.delete_one(coll, {"name": "z"}) == 0
        assert await mongo.delete_many(coll, {"name": "b"}) == 5
        assert await mongo.count_documents(coll, {}) == 1


async def test_aggregate_index_and_bulk_write(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        await mongo.insert_many(coll, [{"k": n % 3, "v": n} for n in range(9)])
        groups = await mongo.aggregate(
            coll, [{"$group": {"_id": "$k", "total": {"$sum": "$v"}}}, {"$sort": {"_id": 1}}]
        )
        assert groups == [{"_id": 0, "total": 9}, {"_id": 1, "total": 12}, {"_id": 2, "total": 15}]

        name = await mongo.create_index(coll, [("v", ASCENDING), ("k", DESCENDING)], name="v_k")
        assert name == "v_k"
        assert await mongo.create_index(coll, "email", unique=True, sparse=True) == "email_1"

        result = await mongo.bulk_write(
            coll,
            [
                InsertOne({"v": 100}),
                {"insert_one": {"document": {"v": 101}}},
                UpdateOne({"v": 0}, {"$set": {"k": 9}}),
                {"update_many": {"filter": {"k": 1}, "update": {"$set": {"one": True}}}},
                {
                    "update_one": {
                        "filter": {"v": 500},
                        "update": {"$set": {"k": 5}},
                        "upsert": True,
                    }
                },
                {"replace_one": {"filter": {"v": 2}, "replacement": {"v": 2, "r": 1}}},
                {"delete_one": {"filter": {"v": 3}}},
                {"delete_many": {"filter": {"v": {"$gte": 100}}}},
            ],
        )
        assert isinstance(result, BulkWriteResult)
        assert result.inserted_count == 2
        assert result.matched_count == 1 + 3 + 1
        assert result.deleted_count == 1 + 3  # v=3, then 100, 101 and the upserted 500
        assert result.upserted_count == 1
        assert list(result.upserted_ids) == [4]
        assert await mongo.bulk_write(coll, []) == BulkWriteResult(0, 0, 0, 0, 0, {})

        with pytest.raises(MongoDataError, match="unknown bulk operation 'upsert_one'"):
            await mongo.bulk_write(coll, [{"upsert_one": {"filter": {}}}])


async def test_duplicate_key_is_ours_with_the_key(
    face: Face, config: MongoConfig, coll: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        await mongo.create_index(coll, "email", unique=True)
        await mongo.insert_one(coll, {"email": "a@example.com"})
        with pytest.raises(MongoDuplicateKeyError) as caught:
            await mongo.insert_one(coll, {"email": "a@example.com"})
        assert caught.value.key == {"email": "a@example.com"}
        assert caught.value.operation == "insert_one"
        assert caught.value.resource == coll
        with pytest.raises(MongoDuplicateKeyError) as in_bulk:
            await mongo.insert_many(coll, [{"email": "b@example.com"}, {"email": "a@example.com"}])
        assert in_bulk.value.key == {"email": "a@example.com"}
        assert await mongo.count_documents(coll, {}) == 2  # ordered: the first went in


async def test_get_collection_is_a_safe_async_handle(
    face: Face, config: MongoConfig, coll: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        users = mongo.get_collection(coll)
        assert users.name == coll
        if face != "sync":
            assert isinstance(users, MongoCollection)
        new_id = await users.insert_one({"email": "c@example.com", "age": 3})
        await users.insert_many([{"email": "d@example.com", "age": 4}])
        assert (await users.find_one({"_id": ObjectId(new_id)}) or {})["age"] == 3
        assert len(await users.find_many({}, sort=[("age", 1)])) == 2
        assert [d["age"] async for d in users.find_iter({}, sort=[("age", -1)])] == [4, 3]
        assert (await users.update_one({"age": 3}, {"$set": {"age": 30}})).modified_count == 1
        assert (await users.update_many({}, {"$inc": {"age": 1}})).modified_count == 2
        assert await users.count_documents({"age": {"$gt": 5}}) == 1
        assert await users.aggregate([{"$count": "n"}]) == [{"n": 2}]
        assert await users.create_index("age") == "age_1"
        assert (
            await users.bulk_write([{"delete_one": {"filter": {"age": 31}}}])
        ).deleted_count == 1
        model_id = await users.insert_one_model(User(email="e@example.com", age=7))
        user = await users.find_one_model({"_id": ObjectId(model_id)}, User)
        assert user == User(_id=model_id, email="e@example.com", age=7)
        assert await users.delete_one({"age": 5}) == 1
        assert await users.delete_many({}) == 1


async def test_models_round_trip(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        new_id = await mongo.insert_one_model(coll, User(email="a@example.com", age=1))
        stored = await mongo.find_one(coll, {"_id": ObjectId(new_id)})
        assert stored is not None
        assert "id" not in stored  # written by alias
        user = await mongo.find_one_model(coll, {"_id": ObjectId(new_id)}, User)
        assert user is not None
        assert user.id == new_id
        assert await mongo.find_one_model(coll, {"email": "nobody"}, User) is None

        ids = await mongo.insert_many_models(
            coll, [User(email="b@example.com", age=2), User(email="c@example.com", age=3)]
        )
        users = await mongo.find_many_models(coll, {}, User, sort=[("age", 1)])
        assert [u.id for u in users] == [new_id, *ids]

        user.age = 10
        result = await mongo.update_one_model(coll, user)
        assert result.modified_count == 1
        again = await mongo.find_one_model(coll, {"_id": ObjectId(new_id)}, User)
        assert again is not None
        assert again.age == 10

        changed = [u.model_copy(update={"age": u.age + 100}) for u in users[1:]]
        bulk = await mongo.update_many_models(coll, changed)
        assert bulk.modified_count == 2
        assert await mongo.count_documents(coll, {"age": {"$gt": 100}}) == 2

        with pytest.raises(MongoDataError, match="no _id"):
            await mongo.update_one_model(coll, User(email="x@example.com"))


async def test_validation_error_names_field_document_and_collection(
    face: Face, config: MongoConfig, coll: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        bad_id = await mongo.insert_one(coll, {"email": "a@example.com", "age": "old"})
        with pytest.raises(MongoDataError) as caught:
            await mongo.find_one_model(coll, {}, User)
        message = str(caught.value)
        assert "age" in message
        assert bad_id in message
        assert caught.value.resource == coll
        with pytest.raises(MongoDataError, match="age"):
            await mongo.find_many_models(coll, {}, User)


async def test_bad_document_is_a_data_error(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        with pytest.raises(MongoDataError, match="encode"):
            await mongo.insert_one(coll, {"value": object()})


async def test_unreachable_server_fails_fast_without_leaking_the_password(
    face: Face, caplog: pytest.LogCaptureFixture
) -> None:
    config = MongoConfig(
        url=SecretStr("mongodb://user:hunter2-secret@127.0.0.1:1/?directConnection=true"),
        database=DATABASE,
        server_selection_timeout_ms=200,
        connect_timeout_ms=200,
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MongoConnectError) as caught:
        async with open_face(face, MongoService(config)):
            pytest.fail("must not open")
    assert "hunter2-secret" not in str(caught.value)
    assert "hunter2-secret" not in repr(config)
    assert "hunter2-secret" not in caplog.text


async def test_use_after_close_is_refused(face: Face, config: MongoConfig) -> None:
    service = MongoService(config)
    async with open_face(face, service) as mongo:
        assert await mongo.ping()
    with pytest.raises(ServiceClosedError):
        await service.find_one(unique_name(), {})
