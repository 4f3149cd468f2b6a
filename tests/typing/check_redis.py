"""Never executed: pins the Redis faces' types for mypy and pyright."""

from __future__ import annotations

from typing import Any, assert_type

from pydantic import BaseModel

from anyservices import RedisConfig, RedisService, blocking
from anyservices.redis import (
    CachedFunction,
    Message,
    ModelStream,
    Pipeline,
    PoolStatistics,
    SyncCachedFunction,
)
from anyservices.redis._sync import SyncLock, SyncPipeline, SyncRedisService


class User(BaseModel):
    name: str


async def check_async(redis: RedisService) -> None:
    assert_type(await redis.get("k"), str | None)
    assert_type(await redis.set("k", "v", ex=1), bool)
    assert_type(await redis.get_model("k", User), User | None)
    assert_type(await redis.check_rate_limit("k", 1, 1), tuple[bool, int])
    assert_type(await redis.hgetall("h"), dict[str, str])


def check_sync() -> None:
    with blocking(RedisService(RedisConfig())) as redis:
        assert_type(redis, SyncRedisService)
        assert_type(redis.get("k"), str | None)
        assert_type(redis.set("k", "v", ex=1, nx=True), bool)
        assert_type(redis.incr("n"), int)
        assert_type(redis.smembers("s"), set[str])
        assert_type(redis.get_model("k", User), User | None)
        assert_type(redis.mget_models(User, "a", "b"), dict[str, User])
        assert_type(redis.get_or_compute("k", lambda: 1), int)
        assert_type(redis.get_json("k"), dict[str, Any] | list[Any] | None)
        assert_type(redis.mset_json({"a": 1}), bool)
        assert_type(redis.mset_models({"a": User(name="a")}), bool)
        assert_type(redis.publish_model("c", User(name="a")), int)
        assert_type(redis.statistics(), PoolStatistics)
        assert_type(redis.check_rate_limit("k", 10, 1.0), tuple[bool, int])
        assert_type(redis.get_or_compute("k", plain_user_zero), User)
        assert_type(redis.vector_search("i", "v", [1.0]), list[dict[str, Any]])
        assert_type(redis.zrange("z", 0, -1), list[str] | list[tuple[str, float]])
        assert_type(redis.mget_json("a", "b"), dict[str, Any])


async def fetch_user(user_id: int) -> User:
    return User(name=str(user_id))


async def fetch_user_zero() -> User:
    return User(name="0")


def plain_user_zero() -> User:
    return User(name="0")


def plain_user(user_id: int) -> User:
    return User(name=str(user_id))


async def check_async_extras(redis: RedisService) -> None:
    cached = redis.cache(ttl=60)(fetch_user)
    assert isinstance(cached, CachedFunction)
    assert_type(await cached(1), User)
    assert_type(await cached.invalidate(1), bool)
    assert_type(await cached.invalidate_all(), int)
    assert_type(await redis.get_or_compute("k", fetch_user_zero), User)
    assert_type(await redis.mset_json({"a": 1}), bool)
    assert_type(await redis.publish_model("c", User(name="a")), int)
    async with redis.subscribe_models("c", User) as users:
        assert_type(users, ModelStream[User])
        async for user in users:
            assert_type(user, User)
    async with redis.pipeline() as pipe:
        assert_type(pipe.set("a", "1").get("a"), Pipeline)
        assert_type(await pipe.execute(), list[Any])
    async with redis.subscribe("c") as subscription:
        async for message in subscription:
            assert_type(message, Message)
        assert_type(await subscription.get_message(timeout=1.0), Message | None)
    async with redis.lock("l") as held:
        assert_type(await held.owned(), bool)


def check_sync_extras() -> None:
    with blocking(RedisService(RedisConfig())) as redis:
        cached = redis.cache(ttl=60)(plain_user)
        assert isinstance(cached, SyncCachedFunction)
        assert_type(cached(1), User)
        assert_type(cached.invalidate(1), bool)
        assert_type(cached.invalidate_all(), int)
        with redis.subscribe_models("c", User, skip_invalid=True) as users:
            for user in users:
                assert_type(user, User)
        with redis.pipeline() as pipe:
            assert_type(pipe, SyncPipeline)
            assert_type(pipe.incr("n").execute(), list[Any])
        with redis.subscribe("c") as subscription:
            for message in subscription:
                assert_type(message, Message)
            polled = subscription.get_message(ignore_subscribe_messages=True, timeout=0.5)
            assert_type(polled, Message | None)
        with redis.lock("l", timeout=1) as held:
            assert_type(held, SyncLock)
            held.extend(5)
