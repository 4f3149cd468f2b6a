"""Transactions: commit, abort on an exception, abort on cancellation, transient retries."""

from __future__ import annotations

import logging

import anyio
import pytest
from mongo_support import DATABASE, coll, config, make_config
from pymongo.errors import OperationFailure

from anyservices import blocking
from anyservices.mongo import MongoConfig, MongoError, MongoService, MongoSession
from anyservices.testing import Face, open_face

__all__ = ("coll", "config")


class BoomError(Exception):
    pass


def _transient(message: str) -> MongoError:
    return MongoError(message, labels=frozenset({"TransientTransactionError"}))


async def test_transaction_commits(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        await mongo.insert_one(coll, {"seed": True})  # the collection exists before the txn
        async with mongo.transaction() as session:
            states = [session.in_transaction]
            await mongo.insert_one(coll, {"a": 1}, session=session)
            await mongo.update_one(coll, {"a": 1}, {"$set": {"b": 2}}, session=session)
            assert await mongo.count_documents(coll, {"a": 1}, session=session) == 1
            assert await mongo.count_documents(coll, {"a": 1}) == 0  # isolated until commit
        states.append(session.in_transaction)
        assert states == [True, False]
        assert await mongo.find_one(coll, {"a": 1}, {"_id": 0}) == {"a": 1, "b": 2}


async def test_transaction_aborts_on_exception(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        await mongo.insert_one(coll, {"seed": True})
        with pytest.raises(BoomError):
            async with mongo.transaction() as session:
                await mongo.insert_one(coll, {"a": 1}, session=session)
                await mongo.insert_many(coll, [{"a": 2}, {"a": 3}], session=session)
                raise BoomError
        assert await mongo.count_documents(coll, {"a": {"$exists": True}}) == 0
        assert await mongo.ping()  # the service is fine afterwards


@pytest.mark.faces(
    "asyncio", "trio"
)  # the sync face is cancelled by leaving its `with` with an error
async def test_transaction_cancelled_midway_writes_nothing(
    face: Face, config: MongoConfig, coll: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        await mongo.insert_one(coll, {"seed": True})
        reached_end = False
        sessions: list[MongoSession] = []
        with anyio.CancelScope() as scope:
            async with mongo.transaction() as session:
                sessions.append(session)
                await mongo.insert_one(coll, {"a": 1}, session=session)
                scope.cancel()
                await mongo.insert_one(coll, {"a": 2}, session=session)  # runs, then cancels
                await anyio.sleep_forever()
            reached_end = True
        assert scope.cancelled_caught
        assert not reached_end
        assert not sessions[0].in_transaction
        assert await mongo.count_documents(coll, {"a": {"$exists": True}}) == 0


@pytest.mark.faces("asyncio", "trio")  # the sync face takes a plain function: see below
async def test_run_transaction_retries_transient_errors(
    face: Face, config: MongoConfig, coll: str, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[int] = []

    async def body(session: MongoSession) -> object:
        attempts.append(1)
        result = await mongo.insert_one(coll, {"attempt": len(attempts)}, session)
        if len(attempts) < 3:
            raise _transient("write conflict")
        return result.inserted_id

    async with open_face(face, MongoService(config)) as mongo:
        await mongo.insert_one(coll, {"seed": True})
        with caplog.at_level(logging.INFO, logger="anyservices"):
            new_id = await mongo.run_transaction(body)
        assert len(attempts) == 3
        assert await mongo.find_one(coll, {"_id": new_id}, {"_id": 0}) == {"attempt": 3}
        assert await mongo.find_many(
            coll, {"attempt": {"$exists": True}}, projection={"_id": 0}
        ) == [{"attempt": 3}]
        retries = [
            r.getMessage() for r in caplog.records if "retrying the transaction" in r.getMessage()
        ]
        assert len(retries) == 2
        assert "(1 of 3)" in retries[0]
        attempts.clear()
        with pytest.raises(MongoError, match="write conflict"):
            await mongo.run_transaction(body, max_retries=1)
        assert len(attempts) == 2

        async def fails(session: MongoSession) -> None:
            raise BoomError

        with pytest.raises(BoomError):
            await mongo.run_transaction(fails)


def test_sync_face_run_transaction_and_abort(mongo_env: dict[str, str]) -> None:
    name = "sync_txn"
    attempts: list[int] = []
    with blocking(MongoService(make_config(mongo_env))) as mongo:
        mongo.delete_many(name, {})
        mongo.insert_one(name, {"seed": True})

        def body(session: MongoSession) -> int:
            attempts.append(1)
            mongo.insert_one(name, {"x": len(attempts)}, session=session)
            if len(attempts) == 1:
                raise _transient("conflict")
            return len(attempts)

        assert mongo.run_transaction(body) == 2
        with pytest.raises(BoomError), mongo.transaction() as session:
            mongo.insert_one(name, {"y": 1}, session=session)
            raise BoomError
        assert mongo.find_many(name, {"seed": {"$exists": False}}, projection={"_id": 0}) == [
            {"x": 2}
        ]


async def test_a_server_refusal_inside_a_transaction_aborts_it(
    face: Face, config: MongoConfig, coll: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        await mongo.insert_one(coll, {"seed": True})
        with pytest.raises(MongoError) as caught:
            async with mongo.transaction() as session:
                await mongo.insert_one(coll, {"a": 1}, session=session)
                await mongo.update_one(coll, {}, {"$bogus": {"a": 1}}, session=session)
        assert isinstance(caught.value.__cause__, OperationFailure)
        assert await mongo.count_documents(coll, {"a": 1}) == 0
        assert DATABASE
