"""RedisService through Redis Sentinel (the local group: 1 master, 1 replica, 3 sentinels)."""

from __future__ import annotations

import uuid

import anyio
import pytest

from anyservices.redis import RedisConfig, RedisConnectError, RedisService
from anyservices.redis._sentinel import SentinelClient
from anyservices.testing import Face, open_face


@pytest.fixture
def sentinel_config(redis_sentinel_env: dict[str, str]) -> RedisConfig:
    return RedisConfig(
        mode="sentinel",
        sentinels="127.0.0.1:1," + redis_sentinel_env["ANYSERVICES_REDIS_SENTINELS"],  # pyright: ignore[reportArgumentType]
        sentinel_master=redis_sentinel_env["ANYSERVICES_REDIS_SENTINEL_MASTER"],
        namespace=f"test-{uuid.uuid4().hex[:12]}",
    )


async def test_commands_and_pubsub_through_sentinel(
    face: Face, sentinel_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(sentinel_config)) as redis:  # a dead sentinel first
        assert await redis.ping() is True
        assert await redis.set("k", "v") is True
        assert await redis.get("k") == "v"
        async with redis.pipeline() as pipe:
            pipe.incr("n").incr("n")
            assert await pipe.execute() == [1, 2]
        async with redis.lock("l", timeout=5) as held:
            assert await held.owned() is True
        async with redis.subscribe("news") as subscription:
            with anyio.fail_after(5):
                for _ in range(500):  # until the SUBSCRIBE has landed
                    if await redis.publish("news", "hi"):
                        break
                    await anyio.sleep(0.01)
                async for message in subscription:
                    assert message.data == "hi"
                    break


async def test_the_master_is_asked_for_and_checked(sentinel_config: RedisConfig) -> None:
    async with RedisService(sentinel_config) as redis:
        client = redis._client
        assert isinstance(client, SentinelClient)
        assert client.master is not None
        host, port = await client.locate()
        assert client.master == (host, port)


async def test_an_unknown_master_name_fails_clearly(sentinel_config: RedisConfig) -> None:
    config = sentinel_config.model_copy(update={"sentinel_master": "nosuchmaster"})
    with pytest.raises(RedisConnectError, match="nosuchmaster"):
        async with RedisService(config):
            pass
