"""Pipelines, MULTI/EXEC, WATCH and the distributed lock, on asyncio, trio and sync."""

from __future__ import annotations

import anyio
import pytest

from anyservices.redis import (
    LockError,
    RedisConfig,
    RedisResponseError,
    RedisService,
    RedisWatchError,
)
from anyservices.testing import Face, open_face


async def test_pipeline_runs_in_one_batch(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        async with redis.pipeline() as pipe:
            pipe.set("a", "1").incr("a", 4).get("a").hset("h", "f", "v").hgetall("h")
            pipe.zadd("z", {"m": 2}).zrange("z", 0, -1, withscores=True).smembers("none")
            results = await pipe.execute()
        assert results == [True, 5, "5", 1, {"f": "v"}, 1, [("m", 2.0)], set()]


async def test_pipeline_without_transaction_and_auto_execute(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.rpush("l", "x", "y").lrange("l", 0, -1)
        # Leaving the block ran what was queued.
        assert await redis.lrange("l", 0, -1) == ["x", "y"]
        with pytest.raises(KeyError):
            async with redis.pipeline() as pipe:
                pipe.set("never", "1")
                raise KeyError("abandon")
        assert await redis.exists("never") == 0  # discarded with the exception


async def test_pipeline_errors(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        await redis.set("s", "text")
        async with redis.pipeline() as pipe:
            pipe.incr("s").set("after", "ok")
            with pytest.raises(RedisResponseError):
                await pipe.execute()
        assert await redis.get("after") == "ok"  # MULTI/EXEC ran the rest
        async with redis.pipeline(transaction=False) as pipe:
            results = await pipe.incr("s").get("after").execute(raise_on_error=False)
        assert isinstance(results[0], RedisResponseError)
        assert results[1] == "ok"


async def test_watch_detects_a_conflict(face: Face, redis_config: RedisConfig) -> None:
    async with (
        open_face(face, RedisService(redis_config)) as redis,
        RedisService(redis_config) as other,
    ):
        await redis.set("balance", "100")
        async with redis.pipeline() as pipe:
            await pipe.watch("balance")
            balance = int(await pipe.fetch("balance") or 0)
            pipe.set("balance", balance - 30)
            assert await pipe.execute() == [True]
        assert await redis.get("balance") == "70"
        async with redis.pipeline() as pipe:
            await pipe.watch("balance")
            balance = int(await pipe.fetch("balance") or 0)
            await other.set("balance", "1000")  # someone else writes meanwhile
            pipe.set("balance", balance - 30)
            with pytest.raises(RedisWatchError):
                await pipe.execute()
        assert await redis.get("balance") == "1000"


async def test_lock_excludes_expires_and_extends(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        async with redis.lock("job", timeout=5) as held:
            assert await held.owned() is True
            with pytest.raises(LockError, match="could not acquire"):
                async with redis.lock("job", timeout=5, blocking_timeout=0.1):
                    pytest.fail("two holders")
            await held.extend(10)
            assert await redis.execute_command("PTTL", held.key) > 5000
        assert await redis.exists("lock:job") == 0
        # A holder whose lock expired is told, and does not release someone else's.
        with pytest.raises(LockError, match="expired"):
            async with redis.lock("short", timeout=0.1) as held:
                await anyio.sleep(0.2)
                assert await held.owned() is False
        async with redis.lock("short", timeout=1, blocking_timeout=1):
            pass


async def test_lock_waits_for_release(redis_config: RedisConfig) -> None:
    order: list[str] = []
    async with RedisService(redis_config) as redis:

        async def worker(name: str) -> None:
            async with redis.lock("serial", timeout=5, blocking_timeout=5):
                order.append(f"{name} in")
                await anyio.sleep(0.05)
                order.append(f"{name} out")

        async with anyio.create_task_group() as tg:
            for name in "abc":
                tg.start_soon(worker, name)
    assert len(order) == 6
    for i in range(0, 6, 2):  # never two holders at once
        assert order[i].endswith("in")
        assert order[i + 1] == order[i].replace("in", "out")
