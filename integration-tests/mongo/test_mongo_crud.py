"""Every contract method on asyncio, trio and the sync face, against the local server."""

from __future__ import annotations

import logging

import pytest
from bson import ObjectId
from mongo_support import DATABASE, User, coll, config, unique_name
from pydantic import SecretStr
from pymongo import ASCENDING, DESCENDING, DeleteOne, InsertOne, UpdateOne
from pymongo.results import BulkWriteResult, DeleteResult, InsertOneResult, UpdateResult

from anyservices import ServiceClosedError
from anyservices.mongo import (
    MongoCollection,
    MongoConfig,
    MongoConnectError,
    MongoDataError,
    MongoDuplicateKeyError,
    MongoService,
)
from anyservices.testing import Face, open_face

__all__ = ("coll", "config")


async def test_ping_and_crud(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        assert (await mongo.ping())["ok"] == 1
        first = await mongo.insert_one(coll, {"name": "a", "n": 1})
        assert isinstance(first, InsertOneResult)
        assert isinstance(first.inserted_id, ObjectId)
        doc = await mongo.find_one(collection_name=coll, query={"_id": first.inserted_id})
        assert doc is not None
        assert doc["name"] == "a"
        assert await mongo.find_one(coll, {"name": "missing"}) is None
        assert await mongo.find_one(coll, {"name": "a"}, {"_id": 0, "n": 1}) == {"n": 1}

        ids = await mongo.insert_many(coll, [{"name": "b", "n": n} for n in range(2, 7)])
        assert len(ids) == 5
        assert all(isinstance(i, ObjectId) for i in ids)
        assert await mongo.insert_many(coll, []) == []
        found = await mongo.find_many(
            coll,
            {"n": {"$gte": 2}},
            projection={"_id": 0, "n": 1},
            sort=[("n", DESCENDING)],
            limit=2,
            skip=1,
        )
        assert found == [{"n": 5}, {"n": 4}]
        everything = await mongo.find_many(coll, {}, sort=[("n", ASCENDING)])
        assert [d["n"] for d in everything] == [1, 2, 3, 4, 5, 6]

        updated = await mongo.update_one(coll, {"n": 1}, {"$set": {"name": "z"}})
        assert isinstance(updated, UpdateResult)
        assert (updated.matched_count, updated.modified_count, updated.upserted_id) == (1, 1, None)
        many = await mongo.update_many(coll, {"name": "b"}, {"$inc": {"n": 10}})
        assert (many.matched_count, many.modified_count) == (5, 5)
        upserted = await mongo.update_many(coll, {"name": "new"}, {"$set": {"n": 0}}, upsert=True)
        assert isinstance(upserted.upserted_id, ObjectId)
        assert await mongo.count_documents(coll, {}) == 7
        assert await mongo.count_documents(coll, {"n": {"$gt": 10}}) == 5

        deleted = await mongo.delete_one(coll, {"name": "z"})
        assert isinstance(deleted, DeleteResult)
        assert deleted.deleted_count == 1
        assert (await mongo.delete_one(coll, {"name": "z"})).deleted_count == 0
        assert (await mongo.delete_many(coll, {"name": "b"})).deleted_count == 5
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
        assert list(result.upserted_ids or {}) == [4]
        empty = await mongo.bulk_write(coll, [])
        assert (empty.inserted_count, empty.deleted_count, empty.upserted_ids) == (0, 0, {})

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


async def test_get_collection_has_the_data_methods(
    face: Face, config: MongoConfig, coll: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        users = mongo.get_collection(collection_name=coll)
        assert users.name == coll
        if face != "sync":
            assert isinstance(users, MongoCollection)
        new_id = (await users.insert_one({"email": "c@example.com", "age": 3})).inserted_id
        await users.insert_many([{"email": "d@example.com", "age": 4}])
        assert (await users.find_one({"_id": new_id}) or {})["age"] == 3
        assert len(await users.find_many({}, sort=[("age", 1)])) == 2
        assert [d["age"] async for d in users.find_iter({}, sort=[("age", -1)])] == [4, 3]
        assert (await users.update_one({"age": 3}, {"$set": {"age": 30}})).modified_count == 1
        assert (await users.update_many({}, {"$inc": {"age": 1}})).modified_count == 2
        assert await users.count_documents({"age": {"$gt": 5}}) == 1
        assert await users.create_index("age") == "age_1"
        assert (await users.bulk_write([DeleteOne({"age": 31})])).deleted_count == 1
        model_id = (await users.insert_one_model(User(email="e@example.com", age=7))).inserted_id
        user = await users.find_one_model({"_id": model_id}, User, {"email": 1})
        assert user == User(_id=str(model_id), email="e@example.com", age=0)  # projected
        more = await users.insert_many_models([User(email="f@example.com", age=8)])
        assert len(more) == 1
        found = await users.find_many_models({"age": {"$gte": 7}}, User, sort=[("age", 1)])
        assert [u.age for u in found] == [7, 8]
        one = await users.update_one_model({"age": 8}, User(email="g@example.com", age=9))
        assert one.modified_count == 1
        every = await users.update_many_models({}, User(email="h@example.com", age=1))
        assert every.matched_count == 3
        assert await users.distinct("email") == ["h@example.com"]
        assert (await users.delete_one({"age": 1})).deleted_count == 1
        assert (await users.delete_many({})).deleted_count == 2
        await users.drop()
        assert await mongo.get_collection(coll).estimated_document_count() == 0


async def test_models_round_trip(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        inserted = await mongo.insert_one_model(coll, User(email="a@example.com", age=1))
        assert isinstance(inserted, InsertOneResult)
        new_id = inserted.inserted_id
        stored = await mongo.find_one(coll, {"_id": new_id})
        assert stored is not None
        assert "id" not in stored  # written by alias
        user = await mongo.find_one_model(coll, {"_id": new_id}, User)
        assert user is not None
        assert user.id == str(new_id)
        assert await mongo.find_one_model(coll, {"email": "nobody"}, User) is None

        ids = await mongo.insert_many_models(
            coll, [User(email="b@example.com", age=2), User(email="c@example.com", age=3)]
        )
        assert all(isinstance(i, ObjectId) for i in ids)
        users = await mongo.find_many_models(coll, {}, User, sort=[("age", 1)])
        assert [u.id for u in users] == [str(new_id), *map(str, ids)]

        user.age = 10
        result = await mongo.update_one_model(coll, {"_id": new_id}, user)
        assert result.modified_count == 1
        again = await mongo.find_one_model(coll, {"_id": new_id}, User)
        assert again is not None
        assert again.age == 10

        changed = User(email="many@example.com", age=100)
        many = await mongo.update_many_models(coll, {"age": {"$lt": 10}}, changed)
        assert isinstance(many, UpdateResult)
        assert many.modified_count == 2
        assert await mongo.count_documents(coll, {"age": 100}) == 2
        upsert = await mongo.update_one_model(
            coll, {"email": "new@example.com"}, changed, upsert=True
        )
        assert upsert.upserted_id is not None


async def test_validation_error_names_field_document_and_collection(
    face: Face, config: MongoConfig, coll: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        bad_id = (
            await mongo.insert_one(coll, {"email": "a@example.com", "age": "old"})
        ).inserted_id
        with pytest.raises(MongoDataError) as caught:
            await mongo.find_one_model(coll, {}, User)
        message = str(caught.value)
        assert "age" in message
        assert str(bad_id) in message
        assert "old" not in message  # the value is not echoed
        assert caught.value.resource == coll
        with pytest.raises(MongoDataError, match="age"):
            await mongo.find_many_models(coll, {}, User)


async def test_bad_document_is_a_data_error(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        with pytest.raises(MongoDataError, match="type object cannot be encoded"):
            await mongo.insert_one(coll, {"value": object()})
        with pytest.raises(MongoDataError, match="8 bytes") as too_big:
            await mongo.insert_one(coll, {"x": 2**64})
        assert str(2**64) not in str(too_big.value)


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
