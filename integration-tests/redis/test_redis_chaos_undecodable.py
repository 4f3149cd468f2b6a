"""Chaos: text that is not valid UTF-8 in every kind of frame, with decoding on and off.

Replies, RESP3 pushes (client tracking invalidations) and pub/sub messages carrying
bytes such as ``b"\\xff\\xfe"`` never kill the service, never break the connection and
never hand a reply to another command.
"""

from __future__ import annotations

import random
import uuid

import anyio
import anyio.lowlevel
import pytest

from anyservices.redis import (
    Message,
    RedisConfig,
    RedisDataError,
    RedisResponseError,
    RedisService,
)
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
        # Undecodable data arrives as bytes (Message.data is str | bytes).
        assert received == [Message("ch", BAD), Message("ch", "after")]
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
        assert message.data == BAD


async def test_undecodable_maps_sets_and_error_replies(
    face: Face, redis_config: RedisConfig
) -> None:
    """RESP3 maps and sets with bad text fail their own call; an error reply's bad text
    is replaced (hiredis), so it is still the server's error."""
    ns = redis_config.namespace
    async with open_face(face, RedisService(redis_config)) as redis:
        await redis.execute_command("HSET", f"{ns}:h", BAD, "v", "ok", BAD)
        await redis.execute_command("SADD", f"{ns}:s", BAD, "fine")
        for command in (("HGETALL", f"{ns}:h"), ("SMEMBERS", f"{ns}:s")):
            with pytest.raises(RedisDataError, match=command[0]):
                await redis.execute_command(*command)
        with pytest.raises(RedisResponseError, match="boom"):
            await redis.execute_command(
                "EVAL", "return redis.error_reply(ARGV[1])", 0, b"boom \xff"
            )
        assert await redis.execute_command("ECHO", "in step") == "in step"
        assert redis.statistics().reconnects == 0


async def _write_tracked_keys(writer: RedisService, prefix: str, done: anyio.Event) -> int:
    """Keys under ``prefix``, every other one not valid UTF-8, until ``done``."""
    writes = 0
    while not done.is_set():
        key = prefix.encode() + (b"\xff%d" if writes % 2 else b"ok%d") % writes
        await writer.execute_command("SET", key, "v")
        writes += 1
        await anyio.lowlevel.checkpoint()
    return writes


@pytest.mark.parametrize("decode", [True, False], ids=["decoded", "raw"])
async def test_undecodable_tracking_pushes_never_misroute_replies(
    face: Face, redis_config: RedisConfig, decode: bool
) -> None:
    """Issue 10 #2: 8 tasks ECHO unique values on the shared connection while another
    client writes keys (half of them not UTF-8) that the connection tracks (CLIENT
    TRACKING BCAST): every reply is the caller's own."""
    config = redis_config.model_copy(update={"decode_responses": decode})
    prefix = f"{config.namespace}:t:"
    rounds = 60 if face == "sync" else 120
    wrong: list[str] = []
    writes: list[int] = []
    async with (
        open_face(face, RedisService(config)) as redis,
        RedisService(redis_config) as writer,
    ):
        await redis.execute_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", prefix)
        done = anyio.Event()

        async def write() -> None:
            writes.append(await _write_tracked_keys(writer, prefix, done))

        async def echo(task: int) -> None:
            for i in range(rounds):
                token = f"{task}-{i}-{uuid.uuid4().hex[:6]}"
                reply = await redis.execute_command("ECHO", token)
                if reply != (token if decode else token.encode()):
                    wrong.append(f"ECHO {token!r} -> {reply!r}")

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(write)
                async with anyio.create_task_group() as echoes:
                    for task in range(8):
                        echoes.start_soon(echo, task)
                done.set()
        assert not wrong
        assert writes[0] > 10
        info = await redis.execute_command("CLIENT", "TRACKINGINFO")
        flags = info["flags" if decode else b"flags"]
        assert ("bcast" if decode else b"bcast") in flags  # the pushes came to this connection
        assert redis.statistics().reconnects == 0


@pytest.mark.faces("asyncio", "trio")  # the test cancels calls: a sync-face call runs on
async def test_pushes_between_replies_under_a_cancellation_fuzz(  # in its worker thread
    face: Face, redis_config: RedisConfig
) -> None:
    """Tracking pushes (half of them undecodable) between the replies of ECHO calls
    that are cancelled at random points: every reply that arrives is its own."""
    del face
    rng = random.Random(10)
    prefix = f"{redis_config.namespace}:t:"
    wrong: list[str] = []
    finished = cancelled = 0
    async with RedisService(redis_config) as redis, RedisService(redis_config) as writer:
        await redis.execute_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", prefix)
        done = anyio.Event()

        async def one(i: int) -> None:
            nonlocal finished, cancelled
            token = f"c{i}-{rng.random()}"
            with anyio.move_on_after(rng.choice([0, 0.00001, 0.0001, 0.001, 1])) as scope:
                reply = await redis.execute_command("ECHO", token)
                finished += 1
                if reply != token:
                    wrong.append(f"ECHO {token!r} -> {reply!r}")
            cancelled += scope.cancelled_caught

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(_write_tracked_keys, writer, prefix, done)
                for _round in range(2):
                    async with anyio.create_task_group() as calls:
                        for i in range(300):
                            calls.start_soon(one, i)
                done.set()
        assert not wrong
        assert finished > 100
        assert cancelled > 100
        for i in range(20):
            assert await redis.execute_command("ECHO", f"after-{i}") == f"after-{i}"
        assert redis.statistics().reconnects == 0
        assert redis.statistics().pending_replies == 0
