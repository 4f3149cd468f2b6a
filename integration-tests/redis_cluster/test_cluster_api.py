"""The RedisService contract on the local Redis Cluster (3 primaries, 3 replicas), every face."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from anyservices.redis import (
    RedisConfig,
    RedisCrossSlotError,
    RedisError,
    RedisService,
    hash_tag,
)
from anyservices.redis._cluster import ClusterClient
from anyservices.redis._slots import key_slot
from anyservices.testing import AsyncView, Face, open_face


class Item(BaseModel):
    name: str
    n: int


@pytest.fixture
def cluster_config(redis_cluster_env: dict[str, str]) -> RedisConfig:
    return RedisConfig(
        mode="cluster",
        cluster_nodes=redis_cluster_env["ANYSERVICES_REDIS_CLUSTER_NODES"],  # pyright: ignore[reportArgumentType]
        namespace=f"test-{uuid.uuid4().hex[:12]}",
    )


KEYS = [f"key{i}" for i in range(24)]  # spread over the three primaries


def test_the_keys_span_every_primary() -> None:
    slots = {key_slot(f"ns:{key}") for key in KEYS}
    assert min(slots) < 5461 and max(slots) > 10922  # noqa: PT018 -- one range check


async def test_strings_multi_key_and_json(face: Face, cluster_config: RedisConfig) -> None:
    async with open_face(face, RedisService(cluster_config)) as redis:
        assert await redis.ping() is True
        for index, key in enumerate(KEYS):
            assert await redis.set(key, index) is True
        assert [await redis.get(key) for key in KEYS[:3]] == ["0", "1", "2"]
        assert await redis.incr(KEYS[0], 5) == 5
        assert await redis.exists(*KEYS, "missing", KEYS[0]) == len(KEYS) + 1
        values = await redis.mget_json(*KEYS, "missing")
        assert values == {key: (5 if i == 0 else i) for i, key in enumerate(KEYS)}
        assert await redis.delete(*KEYS[:12], "missing") == 12
        assert await redis.exists(*KEYS) == 12
        with pytest.raises(RedisCrossSlotError, match="slots"):
            await redis.mset_json({"a": 1, "b": 2})
        tagged = {hash_tag("u1", "a"): {"x": 1}, hash_tag("u1", "b"): [2]}
        assert await redis.mset_json(tagged, ex=100) is True
        assert await redis.mget_json(*tagged) == tagged
        assert 90 < await redis.ttl(hash_tag("u1", "a")) <= 100
        await redis.set_model("m", Item(name="a", n=1))
        assert await redis.get_model("m", Item) == Item(name="a", n=1)
        assert await redis.mget_models(Item, "m", "missing") == {"m": Item(name="a", n=1)}


async def test_collections(face: Face, cluster_config: RedisConfig) -> None:
    async with open_face(face, RedisService(cluster_config)) as redis:
        assert await redis.hset("h", "f", "v") == 1
        assert await redis.hgetall("h") == {"f": "v"}
        assert await redis.rpush("l", "a", "b") == 2
        assert await redis.lrange("l", 0, -1) == ["a", "b"]
        assert await redis.sadd("s", "x", "y") == 2
        assert await redis.smembers("s") == {"x", "y"}
        assert await redis.zadd("z", {"a": 1.0, "b": 2.0}) == 2
        assert await redis.zrange("z", 0, -1, withscores=True) == [("a", 1.0), ("b", 2.0)]


async def test_pipelines_group_by_node(face: Face, cluster_config: RedisConfig) -> None:
    async with open_face(face, RedisService(cluster_config)) as redis:
        async with redis.pipeline(transaction=False) as pipe:
            for key in KEYS:
                pipe.set(key, key)
            pipe.delete(*KEYS[:4])  # a multi-slot command inside a pipeline is split too
            for key in KEYS:
                pipe.get(key)
            replies = await pipe.execute()
        assert replies[: len(KEYS)] == [True] * len(KEYS)
        assert replies[len(KEYS)] == 4
        assert replies[len(KEYS) + 1 :] == [None] * 4 + KEYS[4:]

        with pytest.raises(RedisCrossSlotError):
            async with redis.pipeline() as pipe:
                pipe.set("a", "1").set("b", "2")
        assert await redis.exists("a", "b") == 0  # nothing was sent
        async with redis.pipeline() as pipe:
            pipe.set(hash_tag("t", "a"), "1").incr(hash_tag("t", "a"))
            assert await pipe.execute() == [True, 2]


async def test_watch_needs_one_slot(face: Face, cluster_config: RedisConfig) -> None:
    async with open_face(face, RedisService(cluster_config)) as redis:
        key = hash_tag("acct", "balance")
        await redis.set(key, "10")
        async with redis.pipeline() as pipe:
            await pipe.watch(key)
            balance = int(await pipe.fetch(key) or 0)
            pipe.set(key, balance + 5).set(hash_tag("acct", "log"), "x")
            assert await pipe.execute() == [True, True]
        assert await redis.get(key) == "15"
        with pytest.raises(RedisCrossSlotError):
            async with redis.pipeline() as pipe:
                await pipe.watch("a", "b")
        with pytest.raises(RedisCrossSlotError):
            async with redis.pipeline() as pipe:
                await pipe.watch(key)
                await pipe.fetch("elsewhere")


async def test_lock_single_flight_and_cache(face: Face, cluster_config: RedisConfig) -> None:
    async with open_face(face, RedisService(cluster_config)) as redis:
        async with redis.lock("job", timeout=5) as held:
            assert await held.owned() is True
        calls: list[int] = []

        async def compute() -> dict[str, int]:
            calls.append(1)
            return {"v": 1}

        assert await redis.get_or_compute("flight", compute, ex=60) == {"v": 1}
        assert await redis.get_or_compute("flight", compute, ex=60) == {"v": 1}
        assert calls == [1]
        assert await redis.check_rate_limit("fixed", 2, 10, sliding=False) == (True, 1)
        assert await redis.check_rate_limit("fixed", 2, 10, sliding=False) == (True, 0)
        assert await redis.check_rate_limit("fixed", 2, 10, sliding=False) == (False, 0)


async def test_sliding_window_on_a_cluster(cluster_config: RedisConfig) -> None:
    async with RedisService(cluster_config) as redis:
        table = redis._client._table  # type: ignore[attr-defined]
        prefix = f"{cluster_config.namespace}:ratelimit:"
        name = next(  # a limiter whose old ':seq' key would have lived on another primary
            f"s{i}"
            for i in range(1000)
            if table.shard_for(key_slot(f"{prefix}s{i}"))
            != table.shard_for(key_slot(f"{prefix}s{i}:seq"))
        )
        assert await redis.check_rate_limit(name, 2, 10) == (True, 1)
        assert await redis.check_rate_limit(name, 2, 10) == (True, 0)
        assert await redis.check_rate_limit(name, 2, 10) == (False, 0)


async def test_cache_invalidate_all_scans_every_primary(
    face: Face, cluster_config: RedisConfig
) -> None:
    calls: list[int] = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    async with open_face(face, RedisService(cluster_config)) as redis:
        if face == "sync":  # the sync face caches plain functions, called from a thread
            assert isinstance(redis, AsyncView)
            sync_redis: Any = redis.sync_face
            wrapper: Any = sync_redis.cache(ttl=60, key_prefix="sq")(square)

            async def call(x: int) -> Any:
                return await anyio.to_thread.run_sync(wrapper, x)

            async def invalidate_all() -> Any:
                return await anyio.to_thread.run_sync(wrapper.invalidate_all)
        else:

            async def square_async(x: int) -> int:
                return square(x)

            cached: Any = redis.cache(ttl=60, key_prefix="sq")(square_async)
            call, invalidate_all = cached, cached.invalidate_all
        values = [await call(x) for x in range(24)]  # 24 keys over the three primaries
        assert values == [x * x for x in range(24)]
        assert [await call(x) for x in range(24)] == values
        assert len(calls) == 24
        await redis.set("other", "1")
        assert await invalidate_all() == 24
        assert await call(3) == 9
        assert len(calls) == 25
        assert await redis.get("other") == "1"


async def test_pubsub_and_refusals(face: Face, cluster_config: RedisConfig) -> None:
    async with open_face(face, RedisService(cluster_config)) as redis:
        async with redis.subscribe("news") as subscription:
            with anyio.fail_after(5):
                for _ in range(500):  # until the SUBSCRIBE has landed
                    if await redis.publish("news", "hello"):
                        break
                    await anyio.sleep(0.01)
                async for message in subscription:
                    assert (message.channel, message.data) == ("news", "hello")
                    break
        with pytest.raises(RedisError, match="not available on a Redis Cluster"):
            await redis.vector_search("idx", "v", [0.1, 0.2])
        with pytest.raises(RedisError, match="not available"):
            await redis.execute_command("SELECT", 1)
        assert redis.statistics().commands_sent > 0


async def test_commands_outside_our_table(face: Face, cluster_config: RedisConfig) -> None:
    async with open_face(face, RedisService(cluster_config)) as redis:
        a, b = hash_tag("lcs", "a"), hash_tag("lcs", "b")
        await redis.execute_command("MSET", a, "ohmytext", b, "mynewtext")
        assert await redis.execute_command("LCS", a, b) == "mytext"  # keys from COMMAND INFO
        await redis.execute_command("SADD", a + "s", "1", "2")
        await redis.execute_command("SADD", b + "s", "2", "3")
        assert await redis.execute_command("SINTERCARD", 2, a + "s", b + "s") == 1  # GETKEYS
        with pytest.raises(RedisError, match="unknown command"):
            await redis.execute_command("NOSUCHCOMMAND", "x")
        await redis.execute_command("SCRIPT", "FLUSH")  # every primary forgets its scripts
        async with redis.lock("after-flush", timeout=5):  # NOSCRIPT: loaded again per node
            pass


async def test_statistics_per_node(cluster_config: RedisConfig) -> None:
    async with RedisService(cluster_config) as redis:
        for key in KEYS:
            await redis.set(key, "1")
        client = redis._client
        assert isinstance(client, ClusterClient)
        nodes = client.node_statistics()
        assert len(nodes) == 3
        assert all(stats.commands_sent > 0 for stats in nodes.values())
        total = redis.statistics()
        assert total.commands_sent == sum(stats.commands_sent for stats in nodes.values())
        assert client.refreshes >= 1
