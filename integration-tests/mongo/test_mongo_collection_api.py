"""get_collection: PyMongo's Collection API, its cursors and change streams, on every face."""

from __future__ import annotations

from typing import Any, cast

import anyio
import pymongo
import pymongo.errors
import pytest
from mongo_support import User, coll, config, make_config
from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from anyservices import blocking
from anyservices.mongo import MongoCollection, MongoConfig, MongoService
from anyservices.testing import Face, open_face

__all__ = ("coll", "config")


async def test_collection_methods_run_off_the_loop(
    face: Face, config: MongoConfig, coll: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        users = mongo.get_collection(coll)
        await users.insert_many([{"n": n, "tag": "a" if n % 2 else "b"} for n in range(6)])
        assert await users.count_documents({}) == 6
        assert await users.estimated_document_count() == 6
        assert sorted(await users.distinct("tag")) == ["a", "b"]
        replaced = await users.replace_one({"n": 0}, {"n": 0, "replaced": True})
        assert replaced.modified_count == 1
        after = await users.find_one_and_update(
            {"n": 1}, {"$set": {"x": 1}}, return_document=ReturnDocument.AFTER
        )
        assert after is not None
        assert after["x"] == 1
        deleted = await users.find_one_and_delete({"n": 2})
        assert deleted is not None
        assert deleted["n"] == 2
        assert await users.create_index([("n", 1)], name="by_n") == "by_n"
        assert "by_n" in await users.index_information()
        await users.drop_index("by_n")
        assert "by_n" not in await users.index_information()
        before = mongo.statistics().calls
        assert (await users.find_one({"n": 3}) or {})["n"] == 3
        assert mongo.statistics().calls == before + 1  # one hop through the runner
        await users.drop()
        assert await users.count_documents({}) == 0


async def test_find_cursor_chains_and_iterates(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        users = mongo.get_collection(coll)
        await users.insert_many([{"n": n} for n in range(10)])
        if face == "sync":  # the sync face's cursor is a plain iterator: use it directly
            sync_users: Any = users.sync_face

            def read() -> tuple[list[int], list[int]]:
                cursor = sync_users.find({}, {"_id": 0}).sort("n", -1).skip(1).limit(3)
                listed = [d["n"] for d in cursor]
                with sync_users.find({"n": {"$lt": 2}}).sort("n") as again:
                    first = [next(again)["n"], again.next()["n"]]
                    with pytest.raises(StopIteration):
                        next(again)
                return listed, first

            listed, first = await anyio.to_thread.run_sync(read)
            assert listed == [8, 7, 6]
            assert first == [0, 1]
            return
        cursor = users.find({}, {"_id": 0}).sort("n", -1).skip(1).limit(3)
        assert [d["n"] async for d in cursor] == [8, 7, 6]
        assert [d["n"] for d in await users.find({"n": {"$gte": 7}}).sort("n").to_list()] == [
            7,
            8,
            9,
        ]
        async with users.find({"n": {"$lt": 2}}).sort("n") as again:
            assert (await again.next())["n"] == 0
            assert (await anext(again))["n"] == 1
            with pytest.raises(StopAsyncIteration):
                await again.next()
        sliced = users.find({}).sort("n")[2:4]
        assert [d["n"] async for d in sliced] == [2, 3]
        with pytest.raises(TypeError, match="slice"):
            users.find({})[0]
        grouped = await users.aggregate([{"$group": {"_id": None, "total": {"$sum": "$n"}}}])
        assert [d["total"] async for d in grouped] == [45]
        names = [ix["name"] async for ix in await users.list_indexes()]
        assert names == ["_id_"]


async def test_database_and_sub_collections(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        users = mongo.get_collection(coll)
        await users.insert_one({"a": 1})
        if face == "sync":
            sync_users: Any = users.sync_face

            def browse() -> list[Any]:
                database = sync_users.database
                child = sync_users.archive
                also = sync_users["archive"]
                child.insert_one({"archived": True})
                return [
                    coll in database.list_collection_names(),
                    database[coll].name,
                    child.name,
                    also.name,
                    also.count_documents({}),
                    sync_users.with_options(read_preference=pymongo.ReadPreference.PRIMARY).name,
                    repr(database).startswith("<sync face of <AsyncDatabase proxy"),
                    isinstance(database.driver_object, Database),
                ]

            found = await anyio.to_thread.run_sync(browse)
            assert found == [True, coll, f"{coll}.archive", f"{coll}.archive", 1, coll, True, True]
            await anyio.to_thread.run_sync(sync_users.archive.drop)
            return
        database = users.database
        assert coll in await database.list_collection_names()
        assert isinstance(database[coll], MongoCollection)
        child = users.archive
        assert isinstance(child, MongoCollection)
        assert child.name == f"{coll}.archive"
        assert users["archive"].name == child.name
        await child.insert_one({"archived": True})
        assert await child.count_documents({}) == 1
        primary = users.with_options(read_preference=pymongo.ReadPreference.PRIMARY)
        assert isinstance(primary, MongoCollection)
        assert await primary.count_documents({}) == 1
        assert isinstance(users.driver_object, Collection)
        assert repr(users) == f"<MongoCollection {coll!r}>"
        assert repr(database).startswith("<AsyncDatabase proxy of Database(")
        await child.drop()


async def test_the_handle_takes_our_session(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        users = mongo.get_collection(coll)
        await users.insert_one({"seed": True})
        with pytest.raises(RuntimeError, match="abort"):
            async with mongo.transaction() as session:
                # PyMongo's annotations name its own session class; ours is unwrapped.
                driver_session: Any = session
                await users.insert_one({"in": "txn"}, session=driver_session)
                assert await users.count_documents({}, session=driver_session) == 2
                raise RuntimeError("abort")
        assert await users.count_documents({}) == 1
        async with mongo.transaction() as session:
            await users.insert_one({"in": "txn"}, session=cast("Any", session))
            await users.insert_one_model(User(email="m@example.com"), session)
        assert await users.count_documents({}) == 3


async def test_driver_errors_from_the_handle_are_ours_and_pymongos(
    face: Face, config: MongoConfig, coll: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        users = mongo.get_collection(coll)
        await users.create_index("email", unique=True)
        await users.insert_one({"email": "a@example.com"})
        with pytest.raises(pymongo.errors.DuplicateKeyError) as caught:
            await users.insert_one({"email": "a@example.com"})
        assert caught.value.code == 11000
        assert caught.value.details is None or "keyValue" in caught.value.details
        with pytest.raises(pymongo.errors.OperationFailure):
            await users.aggregate([{"$nosuchstage": {}}])


async def test_change_stream_on_the_handle(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        users = mongo.get_collection(coll)
        await users.insert_one({"seed": True})
        if face == "sync":
            sync_users: Any = users.sync_face

            def watch_one() -> str:
                with sync_users.watch(max_await_time_ms=100) as stream:
                    sync_users.insert_one({"n": 1})
                    for change in stream:
                        return str(change["operationType"])
                raise AssertionError("the stream ended")

            with anyio.fail_after(30):
                assert await anyio.to_thread.run_sync(watch_one) == "insert"
            return
        with anyio.fail_after(30):
            async with await users.watch(max_await_time_ms=100) as stream:
                await users.insert_one({"n": 1})
                async for change in stream:
                    assert change["operationType"] == "insert"
                    break
                await stream.close()
                assert not stream.alive
                with pytest.raises(StopAsyncIteration):
                    await stream.next()


def test_sync_face_database_is_not_a_cursor(mongo_env: dict[str, str]) -> None:
    with blocking(MongoService(make_config(mongo_env))) as mongo:
        handle = mongo.get_collection("any")
        assert isinstance(handle.driver_object, Collection)
        database: Any = handle.database
        with pytest.raises(TypeError):
            next(database)
        assert database["any"].name == "any"
        assert database.any.name == "any"  # a sub-collection by attribute
        assert database.name == "anyservices_tests"
        with pytest.raises(AttributeError):
            database._private  # noqa: B018 -- attribute access is the test
        with pytest.raises(AttributeError):
            handle._private  # noqa: B018


async def test_probe_and_a_collection_passed_back_to_the_driver(
    face: Face, config: MongoConfig, coll: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        await mongo.probe()
        users = mongo.get_collection(coll)
        await users.insert_one({"a": 1})
        if face == "sync":
            sync_users: Any = users.sync_face

            def drop() -> bool:
                database = sync_users.database
                database.drop_collection(sync_users)  # a sync face, unwrapped
                return coll in database.list_collection_names()

            assert not await anyio.to_thread.run_sync(drop)
            return
        database = users.database
        await database.drop_collection(users)  # our handle, unwrapped to PyMongo's
        assert coll not in await database.list_collection_names()
