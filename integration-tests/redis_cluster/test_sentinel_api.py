"""RedisService through Redis Sentinel (the local group: 1 master, 1 replica, 3 sentinels)."""

from __future__ import annotations

import uuid

import anyio
import pytest

from anyservices.devservers._probes import redis_command
from anyservices.redis import (
    RedisConfig,
    RedisConnectError,
    RedisConnectionLostError,
    RedisService,
)
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


def _waits(config: RedisConfig) -> int:
    """How many WAITs the master has run (INFO commandstats)."""
    sentinel = int(config.sentinels[1].rsplit(":", 1)[1])  # [0] is a dead one
    reply = redis_command(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
    assert isinstance(reply, list)
    master = reply[1]
    assert isinstance(master, bytes)
    stats = redis_command(int(master), "INFO", "commandstats")
    assert isinstance(stats, bytes)
    for line in stats.decode().splitlines():
        if line.startswith("cmdstat_wait:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def test_the_api_with_every_write_confirmed_by_the_replica(
    face: Face, sentinel_config: RedisConfig
) -> None:
    config = sentinel_config.model_copy(
        update={"sentinel_wait_replicas": 1, "sentinel_wait_timeout": 2.0}
    )
    before = _waits(config)
    async with open_face(face, RedisService(config)) as redis:
        assert await redis.set("k", "v") is True
        assert await redis.get("k") == "v"
        assert await redis.incr("n") == 1
        async with redis.pipeline() as pipe:
            pipe.incr("n").get("n")
            assert await pipe.execute() == [2, "2"]
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr("n").incr("n")
            assert await pipe.execute() == [3, 4]
        async with redis.pipeline(transaction=True) as pipe:
            await pipe.watch("n")
            assert await pipe.fetch("n") == "4"
            pipe.set("n", "10")
            assert await pipe.execute() == [True]
        async with redis.lock("l", timeout=5) as held:
            assert await held.owned() is True
        assert await redis.check_rate_limit("r", 5, 10) == (True, 4)
    assert _waits(config) - before >= 6  # SET, INCR, the pipelines, the lock, the limit


async def test_a_write_no_replica_confirms_raises_maybe_executed(
    face: Face, sentinel_config: RedisConfig
) -> None:
    """The local group has one replica: asking for two can never be met."""
    config = sentinel_config.model_copy(
        update={"sentinel_wait_replicas": 2, "sentinel_wait_timeout": 0.05}
    )
    async with open_face(face, RedisService(config)) as redis:
        with pytest.raises(RedisConnectionLostError, match="only 1 of 2 replicas") as caught:
            await redis.set("k", "v")
        assert caught.value.maybe_executed is True
        assert await redis.get("k") == "v"  # it ran: a failover might lose it
        with pytest.raises(RedisConnectionLostError, match="only 1 of 2 replicas"):
            async with redis.pipeline() as pipe:
                pipe.get("k").incr("n")
                await pipe.execute()
        assert await redis.get("n") == "1"
