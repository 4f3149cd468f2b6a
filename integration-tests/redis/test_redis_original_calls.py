"""Calls copied from the original's documentation work unchanged, on every face (issue 9)."""

from __future__ import annotations

import anyio
import pytest
from pydantic import BaseModel

from anyservices.redis import Message, RedisConfig, RedisService
from anyservices.testing import Face, open_face


class User(BaseModel):
    name: str


async def test_keyword_calls_and_returns_of_the_original(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        assert await redis.set(key="k", value="v", ex=60, px=None, nx=False, xx=False) is True
        assert await redis.get(key="k") == "v"
        assert await redis.zadd(name="z", mapping={"a": 1.0, "b": 2.0}, nx=False, xx=False) == 2
        assert await redis.zrem("z", "a", "missing") == 1
        assert await redis.zrange(name="z", start=0, end=-1, desc=False, withscores=True) == [
            ("b", 2.0)
        ]
        assert await redis.mset_json({"a": {"x": 1}, "b": [1]}) is True
        assert await redis.mset_json(mapping={"c": None}, ex=60) is True
        assert await redis.mset_json({}) is True
        assert await redis.mset_models({"u": User(name="ann")}) is True
        assert await redis.mset_models(mapping={"v": User(name="bo")}, ex=60) is True
        assert await redis.mget_models(User, "u", "v") == {
            "u": User(name="ann"),
            "v": User(name="bo"),
        }
        assert await redis.hset(name="h", key="f", value="1") == 1
        assert await redis.hdel("h", "f", "g") == 1
        assert await redis.incr(key="n", amount=5) == 5
        assert await redis.decr(key="n", amount=2) == 3
        allowed, remaining = await redis.check_rate_limit(
            key="rl", max_requests=2, window_seconds=10, sliding=False
        )
        assert (allowed, remaining) == (True, 1)
        value = await redis.get_or_compute(
            key="goc", compute=lambda: {"a": 1}, ex=60, serialize_json=True
        )
        assert value == {"a": 1}


async def _publish_until_heard(redis: RedisService, channel: str, data: str) -> None:
    with anyio.fail_after(5):
        while not await redis.publish(channel, data):  # noqa: ASYNC110 -- polls the server
            await anyio.sleep(0.01)


async def test_get_message_as_redis_py(face: Face, redis_config: RedisConfig) -> None:
    async with (
        open_face(face, RedisService(redis_config)) as redis,
        redis.subscribe("news", patterns=["sport.*"]) as subscription,
    ):
        # The server confirms each subscription first, as redis-py hands them out.
        confirmations: list[Message] = []
        with anyio.fail_after(5):
            while len(confirmations) < 2:
                message = await subscription.get_message(timeout=1.0)
                if message is not None:
                    confirmations.append(message)
        assert {(m.kind, m.channel, m.pattern) for m in confirmations} == {
            ("subscribe", "news", None),
            ("psubscribe", "", "sport.*"),
        }
        assert await subscription.get_message() is None  # timeout=0: nothing has arrived
        assert await subscription.get_message(timeout=0.05) is None
        await _publish_until_heard(redis, "news", "hello")
        await _publish_until_heard(redis, "sport.ski", "fast")
        received: list[Message] = []
        with anyio.fail_after(5):
            while len(received) < 2:
                message = await subscription.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    received.append(message)
        assert received == [
            Message("news", "hello"),
            Message("sport.ski", "fast", "sport.*", "pmessage"),
        ]
        await subscription.unsubscribe("news")
        with anyio.fail_after(5):
            left = await subscription.get_message(timeout=None)
        assert left == Message("news", "1", None, "unsubscribe")
        await subscription.subscribe("again")
        with anyio.fail_after(5):
            assert (
                await subscription.get_message(ignore_subscribe_messages=True, timeout=0.2) is None
            )
        await _publish_until_heard(redis, "again", "x")
        with anyio.fail_after(5):
            assert await subscription.get_message(timeout=None) == Message("again", "x")
        with pytest.raises(ValueError, match="timeout"):
            await subscription.get_message(timeout=-1)
