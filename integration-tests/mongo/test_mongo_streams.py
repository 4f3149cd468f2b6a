"""Streaming 10k documents, change streams, and the thread limit under 200 concurrent calls."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import anyio
import pytest
from mongo_support import STREAM_SIZE, as_generator, coll, config, make_config, stream_collection

from anyservices import blocking
from anyservices.mongo import MongoConfig, MongoService, MongoTimeoutError
from anyservices.testing import Face, open_face

__all__ = ("coll", "config", "stream_collection")


async def test_find_iter_streams_10k_documents_in_batches(
    face: Face, config: MongoConfig, stream_collection: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        before = mongo.statistics().calls
        count = 0
        total = 0
        async for document in mongo.find_iter(
            stream_collection, {}, projection={"n": 1}, sort=[("n", 1)], batch_size=1000
        ):
            assert document["n"] == count
            count += 1
            total += document["n"]
        assert count == STREAM_SIZE
        assert total == sum(range(STREAM_SIZE))
        hops = mongo.statistics().calls - before
        assert hops <= STREAM_SIZE // 1000 + 2  # a batch per hop, plus the final close


async def test_find_iter_left_early_closes_its_cursor(
    face: Face, config: MongoConfig, stream_collection: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        seen: list[int] = []
        async with aclosing(
            as_generator(
                mongo.find_iter(
                    stream_collection, {}, sort=[("n", 1)], limit=50, skip=10, batch_size=7
                )
            )
        ) as documents:
            async for document in documents:
                seen.append(document["n"])
                if len(seen) == 3:
                    break
        assert seen == [10, 11, 12]
        assert mongo.statistics().threads_in_use == 0
        limited = [d["n"] async for d in mongo.find_iter(stream_collection, {}, limit=5)]
        assert len(limited) == 5


async def test_change_stream_delivers_inserts(face: Face, config: MongoConfig, coll: str) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        await mongo.insert_one(coll, {"seed": True})
        events: list[dict[str, Any]] = []

        async def keep_inserting() -> None:
            n = 0
            while True:  # until the watcher has its events (a stream opens asynchronously)
                n += 1
                await mongo.insert_one(coll, {"n": n})
                await anyio.sleep(0.05)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(keep_inserting)
                async with aclosing(
                    as_generator(mongo.watch(coll, [{"$match": {"operationType": "insert"}}]))
                ) as stream:
                    async for event in stream:
                        events.append(event)
                        if len(events) == 2:
                            break
                tg.cancel_scope.cancel()
        assert [e["operationType"] for e in events] == ["insert", "insert"]
        assert events[1]["fullDocument"]["n"] == events[0]["fullDocument"]["n"] + 1
        assert events[0]["ns"]["coll"] == coll


async def test_pool_limit_holds_under_200_concurrent_calls(
    face: Face, mongo_env: dict[str, str], coll: str
) -> None:
    config = make_config(mongo_env, max_pool_size=4)
    async with open_face(face, MongoService(config)) as mongo:
        results: list[object] = []

        async def one(n: int) -> None:
            results.append((await mongo.insert_one(coll, {"n": n})).inserted_id)

        async with anyio.create_task_group() as tg:
            for n in range(200):
                tg.start_soon(one, n)
        stats = mongo.statistics()
        assert len(results) == 200
        assert stats.max_threads == 4
        assert 1 <= stats.peak_threads_in_use <= 4
        assert stats.threads_in_use == 0
        assert stats.errors == 0
        assert await mongo.count_documents(coll, {}) == 200


@pytest.mark.faces("asyncio", "trio")  # sync callers have no anyio deadline to pass on
async def test_a_callers_deadline_bounds_the_server_work(
    face: Face, config: MongoConfig, stream_collection: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        # 10k documents cannot arrive in 2 ms: the deadline reaches the driver (CSOT), or
        # the await is cancelled; either way a TimeoutError, and the service still works.
        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.002):
                await mongo.find_many(stream_collection, {})
        assert mongo.statistics().threads_in_use == 0
        assert await mongo.ping()


async def test_timeout_ms_raises_our_timeout_error(
    face: Face, mongo_env: dict[str, str], stream_collection: str
) -> None:
    async with open_face(face, MongoService(make_config(mongo_env, timeout_ms=20))) as mongo:
        with pytest.raises(MongoTimeoutError) as caught:
            await mongo.find_many(stream_collection, {})
        assert caught.value.operation == "find_many"
        assert caught.value.resource == stream_collection


def test_sync_face_loop_left_early_closes_the_cursor(
    mongo_env: dict[str, str], stream_collection: str
) -> None:
    with blocking(MongoService(make_config(mongo_env))) as mongo:
        before = mongo.statistics().calls
        seen = []
        for document in mongo.find_iter(stream_collection, {}, sort=[("n", 1)], batch_size=7):
            seen.append(document["n"])
            break
        assert seen == [0]
        # one hop fetched the first batch, one closed the cursor when the loop was left
        assert mongo.statistics().calls - before == 2
        assert mongo.statistics().threads_in_use == 0
