"""Never executed: pins the Redis faces' types for mypy and pyright."""

from __future__ import annotations

from typing import Any, assert_type

from pydantic import BaseModel

from anyservices import RedisConfig, RedisService, blocking
from anyservices.redis._client import PoolStatistics
from anyservices.redis._sync import SyncRedisService


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
        assert_type(redis.get_json("k"), Any)
        assert_type(redis.statistics(), PoolStatistics)
