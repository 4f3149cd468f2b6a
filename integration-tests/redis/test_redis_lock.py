"""The distributed lock and single-flight keep separate keys; lock edge cases on every face."""

from __future__ import annotations

import anyio
import pytest

from anyservices.redis import LockError, RedisConfig, RedisService, RedisTimeoutError
from anyservices.testing import Face, open_face


async def test_a_lock_and_a_computation_of_the_same_name_do_not_collide(
    face: Face, redis_config: RedisConfig
) -> None:
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        return 7

    async with open_face(face, RedisService(redis_config)) as redis:
        async with redis.lock("report", timeout=5) as held:
            with anyio.fail_after(3):  # would wait for the user's lock if they shared a key
                value: int = await redis.get_or_compute("report", compute, wait_timeout=2)
            assert value == 7
            assert await held.owned()
        assert calls == 1
        assert await redis.exists("lock:report") == 0


async def test_lost_lock_is_reported_on_release_and_extend(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        with pytest.raises(LockError, match="expired"):
            async with redis.lock("short", timeout=0.05) as held:
                await anyio.sleep(0.2)
                assert not await held.owned()
                with pytest.raises(LockError, match="extend"):
                    await held.extend(1)
        # someone else holding it now is not disturbed by our token-checked release
        async with redis.lock("short", timeout=5):
            assert await redis.exists("lock:short") == 1


async def test_blocking_timeout_raises(face: Face, redis_config: RedisConfig) -> None:
    async with (
        open_face(face, RedisService(redis_config)) as redis,
        redis.lock("busy", timeout=5),
    ):
        with pytest.raises(LockError, match="could not acquire"):
            async with redis.lock("busy", blocking_timeout=0.05):
                pass  # pragma: no cover


async def test_the_blocks_own_error_is_not_hidden_by_a_lost_lock(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        with pytest.raises(KeyError, match="mine"):
            async with redis.lock("lost", timeout=0.05):
                await anyio.sleep(0.2)
                raise KeyError("mine")
        async with redis.lock("lost", timeout=5):  # released (or expired): free again
            assert await redis.exists("lock:lost") == 1


async def test_single_flight_wait_is_bounded(face: Face, redis_config: RedisConfig) -> None:
    def never() -> str:
        raise AssertionError("a waiter must not compute while the lock is held")  # pragma: no cover

    async with open_face(face, RedisService(redis_config)) as redis:
        await redis.set("flight:slow", "someone-else", px=5000)  # another caller computes
        with pytest.raises(RedisTimeoutError, match="still computing") as caught:
            await redis.get_or_compute("slow", never, wait_timeout=0.1)
        assert isinstance(caught.value, TimeoutError)
        assert caught.value.resource == "slow"
        assert await redis.get("flight:slow") == "someone-else"  # not released by the waiter
