"""Chaos: text that is not valid UTF-8 in every kind of frame, with decoding on and off.

Replies, RESP3 pushes (client tracking invalidations) and pub/sub messages carrying
bytes such as ``b"\\xff\\xfe"`` never kill the service, never break the connection and
never hand a reply to another command.
"""

from __future__ import annotations

import uuid

import anyio
import anyio.lowlevel
import pytest

from anyservices.redis import Message, RedisConfig, RedisDataError, RedisService
from anyservices.testing import Face, open_face

BAD = b"\xff\xfe"


async def _publish_until_heard(redis: RedisService, channel: str, data: str | bytes) -> None:
    with anyio.fail_after(5):
        while not await redis.publish(channel, data):  # noqa: ASYNC110 -- polls the server
            await anyio.sleep(0.01)


async def test_an_undecodable_message_reaches_the_subscriber(
    face: Face, redis_config: RedisConfig
) -> None:
    """Issue 10 #1: it arrives as bytes; the service and the subscription live on."""
    async with (
        open_face(face, RedisService(redis_config)) as redis,
        redis.subscribe("ch") as subscription,
        RedisService(redis_config) as publisher,
    ):
        await _publish_until_heard(publisher, "ch", BAD)
        await publisher.publish("ch", "after")
        received: list[Message] = []
        with anyio.fail_after(5):
            async for message in subscription:
                received.append(message)
                if len(received) == 2:
                    break
        # Message.data is typed str (redis/_pubsub.py); undecodable data arrives as bytes.
        assert received == [Message("ch", BAD), Message("ch", "after")]  # type: ignore[arg-type]
        assert await redis.ping()
        await redis.set("k", "v")
        assert await redis.get("k") == "v"


async def test_an_undecodable_reply_fails_only_its_call(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        await redis.set("bad", BAD)
        with pytest.raises(RedisDataError) as caught:
            await redis.get("bad")
        assert caught.value.operation == "GET"
        assert "xff" not in str(caught.value)
        with pytest.raises(RedisDataError):
            await redis.execute_command("MGET", "ignored", f"{redis_config.namespace}:bad")
        assert await redis.execute_command("ECHO", "still in step") == "still in step"
        assert redis.statistics().reconnects == 0


async def test_with_decoding_off_replies_are_bytes(face: Face, redis_config: RedisConfig) -> None:
    config = redis_config.model_copy(update={"decode_responses": False})
    async with open_face(face, RedisService(config)) as redis:
        await redis.set("bad", BAD)
        assert await redis.execute_command("GET", f"{config.namespace}:bad") == BAD
        assert await redis.execute_command("ECHO", "text") == b"text"


async def test_with_decoding_off_messages_are_bytes(face: Face, redis_config: RedisConfig) -> None:
    config = redis_config.model_copy(update={"decode_responses": False})
    async with (
        open_face(face, RedisService(config)) as redis,
        redis.subscribe("raw") as subscription,
        RedisService(redis_config) as publisher,
    ):
        await _publish_until_heard(publisher, "raw", BAD)
        with anyio.fail_after(5):
            message = await anext(aiter(subscription))
        assert message.data == BAD  # type: ignore[comparison-overlap] # Message.data says str


async def test_undecodable_tracking_pushes_never_misroute_replies(
    face: Face, redis_config: RedisConfig
) -> None:
    """Issue 10 #2: 8 tasks ECHO unique values on the shared connection while another
    client writes non-UTF-8 keys that the connection tracks (CLIENT TRACKING BCAST):
    every reply is the caller's own."""
    prefix = f"{redis_config.namespace}:t:"
    rounds = 60 if face == "sync" else 300
    wrong: list[str] = []
    writes = 0
    async with (
        open_face(face, RedisService(redis_config)) as redis,
        RedisService(redis_config) as writer,
    ):
        assert await redis.execute_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", prefix)
        done = anyio.Event()

        async def write() -> None:
            nonlocal writes
            while not done.is_set():
                await writer.execute_command("SET", prefix.encode() + b"\xff%d" % writes, "v")
                writes += 1
                await anyio.lowlevel.checkpoint()

        async def echo(task: int) -> None:
            for i in range(rounds):
                token = f"{task}-{i}-{uuid.uuid4().hex[:6]}"
                reply = await redis.execute_command("ECHO", token)
                if reply != token:
                    wrong.append(f"ECHO {token!r} -> {reply!r}")

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(write)
                async with anyio.create_task_group() as echoes:
                    for task in range(8):
                        echoes.start_soon(echo, task)
                done.set()
        assert not wrong
        assert writes > 10
        info = await redis.execute_command("CLIENT", "TRACKINGINFO")
        assert "bcast" in info["flags"]  # the pushes were sent to this very connection
        assert redis.statistics().reconnects == 0
