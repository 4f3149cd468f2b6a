"""Cancelling calls at random points never hands a reply to the wrong caller."""

from __future__ import annotations

import random

import anyio

from anyservices.redis import RedisConfig, RedisService


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
