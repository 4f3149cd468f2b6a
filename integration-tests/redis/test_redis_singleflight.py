"""get_or_compute computes once while many callers wait, and survives a dead holder."""

from __future__ import annotations

import time

import anyio
import pytest

from anyservices.redis import RedisConfig, RedisService
from anyservices.testing import Face, open_face


async def test_fifty_concurrent_callers_compute_once(face: Face, redis_config: RedisConfig) -> None:
    calls = 0

    async def compute() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.2)
        return {"answer": 42}

    def compute_plain() -> dict[str, int]:  # the sync face passes a plain callable
        nonlocal calls
        calls += 1
        time.sleep(0.2)
        return {"answer": 42}

    results: list[object] = []
    async with open_face(face, RedisService(redis_config)) as redis:

        async def caller() -> None:
            function = compute_plain if face == "sync" else compute
            results.append(await redis.get_or_compute("expensive", function, ex=60))

        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(caller)
        assert calls == 1
        assert results == [{"answer": 42}] * 50
        assert await redis.get_json("expensive") == {"answer": 42}
        assert await redis.exists("flight:expensive") == 0  # released by its holder


async def test_plain_and_raw_values(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        assert await redis.get_or_compute("raw", lambda: "text", serialize_json=False) == "text"
        assert await redis.get("raw") == "text"
        assert await redis.get_or_compute("raw", lambda: "other", serialize_json=False) == "text"


async def test_failed_compute_releases_the_lock(face: Face, redis_config: RedisConfig) -> None:
    def boom() -> None:
        raise LookupError("compute failed")

    async with open_face(face, RedisService(redis_config)) as redis:
        with pytest.raises(LookupError):
            await redis.get_or_compute("k", boom)
        assert await redis.exists("flight:k") == 0
        assert await redis.get_or_compute("k", lambda: 1) == 1


async def test_dead_holder_lock_expires_and_a_waiter_takes_over(
    redis_config: RedisConfig,
) -> None:
    async with RedisService(redis_config) as redis:
        # A holder that died: its lock has an expiry and nobody will release it.
        await redis.set("flight:orphan", "dead-token", px=300)
        started = anyio.current_time()
        assert await redis.get_or_compute("orphan", lambda: "mine", lock_timeout=1) == "mine"
        assert anyio.current_time() - started >= 0.25
