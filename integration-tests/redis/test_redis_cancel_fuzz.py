"""Cancelling calls at random points never hands a reply to the wrong caller."""

from __future__ import annotations

import logging
import random

import anyio
import anyio.lowlevel

from anyservices.redis import RedisConfig, RedisService
from anyservices.redis._client import RedisClient


async def test_cancelled_calls_never_misroute_replies(redis_config: RedisConfig) -> None:
    rng = random.Random(1234)
    completed = cancelled = 0
    mismatches: list[str] = []
    async with RedisService(redis_config) as redis:

        async def one(i: int) -> None:
            nonlocal completed, cancelled
            token = f"token-{i}-{rng.random()}"
            reply: object = None
            with anyio.move_on_after(rng.choice([0, 0.00001, 0.0001, 0.001, 1])) as scope:
                if i % 3 == 0:
                    await redis.set(f"k{i}", token)
                    reply = await redis.get(f"k{i}")
                else:
                    reply = await redis.execute_command("ECHO", token)
            if scope.cancelled_caught:
                cancelled += 1
                return
            completed += 1
            if reply != token:
                mismatches.append(f"{i}: sent {token!r}, got {reply!r}")

        for _round in range(5):
            async with anyio.create_task_group() as tg:
                for i in range(600):
                    tg.start_soon(one, i)
        assert not mismatches
        assert completed > 100
        assert cancelled > 100
        # The connection is healthy afterwards and answers in order.
        for i in range(50):
            assert await redis.execute_command("ECHO", f"after-{i}") == f"after-{i}"
        assert redis.statistics().reconnects == 0
        assert redis.statistics().pending_replies == 0


async def _cancel_after_turns(scope: anyio.CancelScope, turns: int) -> None:
    for _ in range(turns):
        await anyio.lowlevel.checkpoint()
    scope.cancel()


async def _echo_checked(
    client: RedisClient, i: int, tokens: list[str], mismatches: list[str]
) -> None:
    """ECHO ``tokens`` (one call, or one batch); a reply not its own is noted."""
    if len(tokens) == 1:
        replies = [await client.execute("ECHO", tokens[0])]
    else:
        replies = await client.execute_many([("ECHO", t) for t in tokens])
    if replies != tokens:
        mismatches.append(f"{i}: sent {tokens}, got {replies}")


async def _assert_healthy(client: RedisClient) -> None:
    for i in range(20):
        assert await client.execute("ECHO", f"after-{i}") == f"after-{i}"
    assert client.statistics().pending_replies == 0


async def test_batches_cancelled_at_random_checkpoints(redis_config: RedisConfig) -> None:
    """execute_many batches and single calls, each cancelled after a random number of
    scheduler turns by another task: every finished call holds its own replies."""
    rng = random.Random(99)
    mismatches: list[str] = []
    finished = cancelled = 0
    client = RedisClient(redis_config, logger=logging.getLogger("anyservices.redis"))
    async with anyio.create_task_group() as tg:
        await client.open(tg)

        async def one(i: int) -> None:
            nonlocal finished
            tokens = [f"b{i}-{j}-{rng.random()}" for j in range(rng.randint(1, 4))]
            await _echo_checked(client, i, tokens, mismatches)
            finished += 1

        async def one_cancellable(i: int) -> None:
            nonlocal cancelled
            with anyio.CancelScope() as outer:
                async with anyio.create_task_group() as inner:
                    inner.start_soon(_cancel_after_turns, outer, rng.randint(0, 12))
                    await one(i)
                    inner.cancel_scope.cancel()
            if outer.cancelled_caught:
                cancelled += 1

        for _round in range(2):
            async with anyio.create_task_group() as calls:
                for i in range(800):
                    calls.start_soon(one_cancellable if i % 2 else one, i)
        assert not mismatches
        assert finished > 400
        assert cancelled > 50  # the fuzz did cancel calls at many points
        await _assert_healthy(client)
        assert client.statistics().reconnects == 0
        await client.aclose()
        tg.cancel_scope.cancel()


async def test_one_caller_at_a_time_cancelled_at_random_points(
    redis_config: RedisConfig,
) -> None:
    """Calls one after another (each finds the connection idle, writes and reads its own
    reply), cancelled after a random number of scheduler turns, with now and then a
    second caller queued behind: every finished call holds its own replies."""
    rng = random.Random(7)
    mismatches: list[str] = []
    finished = cancelled = 0
    client = RedisClient(redis_config, logger=logging.getLogger("anyservices.redis"))
    async with anyio.create_task_group() as tg:
        await client.open(tg)

        async def one(i: int) -> None:
            nonlocal finished
            tokens = [f"s{i}-{j}-{rng.random()}" for j in range(rng.choice([1, 1, 3]))]
            await _echo_checked(client, i, tokens, mismatches)
            finished += 1

        for i in range(600):
            with anyio.CancelScope() as outer:
                async with anyio.create_task_group() as inner:
                    inner.start_soon(_cancel_after_turns, outer, rng.randint(0, 6))
                    if i % 5 == 0:
                        inner.start_soon(one, -i)  # queued behind: the writer sends it
                    await one(i)
                    inner.cancel_scope.cancel()
            cancelled += outer.cancelled_caught
        assert not mismatches
        assert finished > 100
        assert cancelled > 50
        await _assert_healthy(client)
        assert client.statistics().reconnects == 0
        await client.aclose()
        tg.cancel_scope.cancel()


async def _drained(redis: RedisService) -> None:
    with anyio.fail_after(10):
        while redis.statistics().pending_replies:  # noqa: ASYNC110 -- polls the counters
            await anyio.sleep(0.01)


async def test_a_cancelled_command_applies_before_the_same_task_s_next(
    redis_config: RedisConfig,
) -> None:
    """Issue 10 #10, with two shared connections: connection 0 is held by a 0.5 s BLPOP,
    connection 1 by a 0.1 s one; SET k v1 (on 0) is cancelled once sent, then the
    same task's SET k v2 must not overtake it on connection 1."""
    config = redis_config.model_copy(update={"multiplexed_connections": 2})
    async with RedisService(config) as redis, anyio.create_task_group() as tg:
        tg.start_soon(redis.execute_command, "BLPOP", f"{config.namespace}:empty-0", 0.5)
        with anyio.fail_after(5):
            while redis.statistics().pending_replies < 1:
                await anyio.lowlevel.checkpoint()
        tg.start_soon(redis.execute_command, "BLPOP", f"{config.namespace}:empty-1", 0.1)
        with anyio.fail_after(5):
            while redis.statistics().pending_replies < 2:
                await anyio.lowlevel.checkpoint()
        with anyio.move_on_after(0.05) as scope:
            await redis.set("k", "v1")
        assert scope.cancelled_caught
        await redis.set("k", "v2")
        await _drained(redis)
        assert await redis.get("k") == "v2"


async def test_each_task_s_last_write_wins_under_cancellation(redis_config: RedisConfig) -> None:
    """Tasks write their own key at random cancellation points over three shared
    connections, then once more without a deadline: that last write is what stays."""
    config = redis_config.model_copy(update={"multiplexed_connections": 3})
    rng = random.Random(7)
    cancelled = 0
    async with RedisService(config) as redis:

        async def writer(task: int) -> None:
            nonlocal cancelled
            for i in range(60):
                with anyio.move_on_after(rng.choice([0, 0.00001, 0.0001, 0.001])) as scope:
                    await redis.set(f"w{task}", f"{i}")
                cancelled += scope.cancelled_caught
            await redis.set(f"w{task}", "final")

        async with anyio.create_task_group() as tg:
            for task in range(12):
                tg.start_soon(writer, task)
        await _drained(redis)
        values = [await redis.get(f"w{task}") for task in range(12)]
        assert values == ["final"] * 12
        assert cancelled > 50
