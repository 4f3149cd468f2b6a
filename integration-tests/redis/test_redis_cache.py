"""The cache decorator on asyncio, trio and the sync face (plain functions there)."""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread

from anyservices.redis import RedisConfig, RedisService
from anyservices.testing import AsyncView, Face, open_face


def cached_call(
    face: Face, redis: RedisService, body: Callable[..., Any], **options: Any
) -> tuple[Callable[..., Awaitable[Any]], Any]:
    """Decorate ``body`` the way each face expects; return an async caller and the wrapper.

    On the sync face the decorated function is plain and is called from a worker
    thread, as a synchronous program would call it.
    """
    if face == "sync":
        assert isinstance(redis, AsyncView)
        sync_redis: Any = redis.sync_face
        wrapper: Any = sync_redis.cache(**options)(body)

        async def call_sync(*args: Any, **kwargs: Any) -> Any:
            return await anyio.to_thread.run_sync(functools.partial(wrapper, *args, **kwargs))

        return call_sync, wrapper

    async def async_body(*args: Any, **kwargs: Any) -> Any:
        return body(*args, **kwargs)

    async_body.__qualname__ = body.__qualname__
    cached: Any = redis.cache(**options)(async_body)
    return cached, cached


async def _run(method: Callable[..., Any], *args: Any) -> Any:
    """Call a cached function's method: awaited, or (sync face) from a worker thread."""
    if inspect.iscoroutinefunction(method):
        return await method(*args)
    return await anyio.to_thread.run_sync(functools.partial(method, *args))


async def test_cache_hits_misses_and_invalidation(face: Face, redis_config: RedisConfig) -> None:
    calls: list[tuple[int, str]] = []

    def double(x: int, tag: str = "t") -> dict[str, int] | None:
        calls.append((x, tag))
        return None if x < 0 else {"value": x * 2}

    async with open_face(face, RedisService(redis_config)) as redis:
        call, wrapper = cached_call(face, redis, double, ttl=60, key_prefix="double")
        assert await call(2) == {"value": 4}
        assert await call(2) == {"value": 4}
        assert await call(2, tag="other") == {"value": 4}
        assert await call(-1) is None
        assert await call(-1) is None  # None results are cached too
        assert calls == [(2, "t"), (2, "other"), (-1, "t")]
        assert await _run(wrapper.invalidate, 2) is True
        assert await call(2) == {"value": 4}
        assert len(calls) == 4
        assert await _run(wrapper.invalidate_all) == 3
        assert await call(2) == {"value": 4}
        assert len(calls) == 5
        keys = await redis.execute_command("KEYS", f"{redis_config.namespace}:cache:double:*")
        assert len(keys) == 1
        assert 50 < await redis.execute_command("TTL", keys[0]) <= 60


def is_zero(result: int) -> bool:
    return result == 0


async def test_skip_cache_if_and_namespace(face: Face, redis_config: RedisConfig) -> None:
    calls = 0

    def lookup(x: int) -> int:
        nonlocal calls
        calls += 1
        return x

    async with open_face(face, RedisService(redis_config)) as redis:
        call, _ = cached_call(face, redis, lookup, ttl=60, namespace="v2", skip_cache_if=is_zero)
        assert await call(0) == 0
        assert await call(0) == 0
        assert calls == 2  # zero is never cached
        assert await call(5) == 5
        assert await call(5) == 5
        assert calls == 3
        keys = await redis.execute_command("KEYS", f"{redis_config.namespace}:cache:v2:*")
        assert len(keys) == 1


async def test_thundering_herd_computes_once(face: Face, redis_config: RedisConfig) -> None:
    calls = 0
    lock = threading.Lock()

    def slow(x: int) -> int:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.2)
        return x + 1

    async with open_face(face, RedisService(redis_config)) as redis:
        call, _ = cached_call(face, redis, slow, ttl=60, prevent_thundering_herd=True)
        results: list[int] = []

        async def one() -> None:
            results.append(await call(41))

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(one)
        assert results == [42] * 20
        assert calls == 1


async def test_invalidate_all_scans_past_pages_without_matches(
    face: Face, redis_config: RedisConfig
) -> None:
    def square(x: int) -> int:
        return x * x

    async with open_face(face, RedisService(redis_config)) as redis:
        # Enough other keys that SCAN answers in several pages, some with no match.
        await redis.mset_json({f"other:{i}": i for i in range(3000)}, ex=60)
        call, wrapper = cached_call(face, redis, square, ttl=60, key_prefix="square")
        assert await call(3) == 9
        assert await _run(wrapper.invalidate_all) == 1
        assert await _run(wrapper.invalidate_all) == 0
        assert await redis.exists("other:0", "other:2999") == 2
