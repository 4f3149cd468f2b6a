"""Every public method of the pipeline, the subscription and the lock, on every face."""

from __future__ import annotations

import anyio
import pytest
from test_redis_lock_deadlines import Server

from anyservices.redis import (
    Message,
    RedisConfig,
    RedisResponseError,
    RedisService,
)
from anyservices.testing import Face, open_face


async def test_every_pipeline_command(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.execute_command("ECHO", "hi").set("s", "1", ex=60).get("s").exists("s", "no")
            pipe.expire("s", 100).ttl("s").incr("n").decr("n", 3).delete("s")
            pipe.hset("h", "f", "v").hget("h", "f").hgetall("h").hdel("h", "f")
            pipe.lpush("l", "a").rpush("l", "b").lrange("l", 0, -1).lpop("l").rpop("l")
            pipe.sadd("set", "x", "y").srem("set", "y").smembers("set")
            pipe.zadd("z", {"a": 1.0, "b": 2.0}).zrem("z", "a").zrange("z", 0, -1, desc=True)
            pipe.publish("nobody", "hello")
            results = await pipe.execute()
        assert results == [
            "hi", True, "1", 1, True, 100, 1, -2, 1,
            1, "v", {"f": "v"}, 1,
            1, 2, ["a", "b"], "a", "b",
            2, 1, {"x"},
            2, 1, ["b"],
            0,
        ]  # fmt: skip
        async with redis.pipeline() as pipe:
            assert await pipe.execute() == []  # nothing queued: no round trip
            pipe.set("never", "1")
            await pipe.reset()
        assert await redis.exists("never") == 0


async def test_pipeline_error_paths(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        await redis.set("text", "abc")
        async with redis.pipeline(transaction=False) as pipe:
            pipe.incr("text")
            with pytest.raises(RedisResponseError, match="not an integer"):
                await pipe.execute()
        async with redis.pipeline(transaction=False) as pipe:
            with pytest.raises(RuntimeError, match="watch"):
                await pipe.fetch("text")
            await pipe.watch("text")
            await pipe.watch("other")  # the same connection again
            assert await pipe.fetch("text") == "abc"
            results = await pipe.incr("text").get("text").execute(raise_on_error=False)
        assert isinstance(results[0], RedisResponseError)
        assert results[1] == "abc"
        async with redis.pipeline(transaction=False) as pipe:
            await pipe.watch("text")
            pipe.incr("text")
            with pytest.raises(RedisResponseError):
                await pipe.execute()


async def test_a_transaction_that_the_server_aborts_raises(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        with pytest.raises(RedisResponseError):
            await redis.mset_json({"a": 1}, ex=1.5)  # type: ignore[arg-type]
        assert await redis.ttl("a") == -1  # MSET ran, its EXPIRE failed: that is not silent


async def test_statistics_and_probe(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        await redis.probe()
        assert await redis.ping()
        assert redis.statistics().commands_sent >= 2


async def test_subscription_surface(face: Face, redis_config: RedisConfig) -> None:
    async with (
        open_face(face, RedisService(redis_config)) as redis,
        redis.subscribe(patterns=["p.*"]) as subscription,
    ):
        await subscription.psubscribe("q.*")
        await subscription.unsubscribe()  # no channels: nothing to send
        kinds: list[str] = []
        with anyio.fail_after(5):
            while len(kinds) < 2:
                message = await subscription.get_message(timeout=1)
                if message is not None:
                    kinds.append(message.kind)
        assert kinds == ["psubscribe", "psubscribe"]
        await redis.publish("q.1", "x")
        with anyio.fail_after(5):
            assert await subscription.get_message(timeout=None) == Message(
                "q.1", "x", "q.*", "pmessage"
            )
        assert subscription.reconnects == 0


async def test_lock_surface(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        async with redis.lock("surface", timeout=30) as held:
            assert held.key == f"{redis_config.namespace}:lock:surface"
            await held.release()
            assert not await held.owned()
            await held.acquire(0)
            assert await held.owned()
            assert await held.try_acquire() is False  # held by us: SET NX refuses
        await held.release(missing_ok=True)  # released by the block already
        assert await redis.exists("lock:surface") == 0


async def test_a_transaction_refused_at_queue_time_raises(face: Face) -> None:
    server = Server("--maxmemory", "1", "--maxmemory-policy", "noeviction")
    try:
        async with open_face(face, RedisService(server.config)) as redis:
            with pytest.raises(RedisResponseError, match="OOM"):
                await redis.mset_json({"a": 1}, ex=60)  # MSET refused: EXEC aborts
    finally:
        server.close()
