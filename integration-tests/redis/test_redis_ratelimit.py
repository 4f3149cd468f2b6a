"""Rate limits: atomic across tasks and processes, fixed and sliding windows."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import anyio

from anyservices.redis import RedisConfig, RedisService
from anyservices.testing import Face, open_face


async def test_fixed_window_counts_and_expires(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        results = [await redis.check_rate_limit("fixed", 3, 0.3, sliding=False) for _ in range(5)]
        assert results == [(True, 2), (True, 1), (True, 0), (False, 0), (False, 0)]
        ttl_ms = await redis.execute_command("PTTL", f"{redis_config.namespace}:ratelimit:fixed")
        assert 0 < ttl_ms <= 300  # the counter never lives without an expiry
        await anyio.sleep(0.35)
        assert await redis.check_rate_limit("fixed", 3, 0.3, sliding=False) == (True, 2)


async def test_sliding_window_does_not_record_denials(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        assert await redis.check_rate_limit("slide", 2, 0.4) == (True, 1)
        assert await redis.check_rate_limit("slide", 2, 0.4) == (True, 0)
        for _ in range(5):
            assert await redis.check_rate_limit("slide", 2, 0.4) == (False, 0)
        await anyio.sleep(0.45)
        # Denials were not recorded, so the window has room again.
        assert await redis.check_rate_limit("slide", 2, 0.4) == (True, 1)


async def test_many_tasks_get_exactly_the_limit(redis_config: RedisConfig) -> None:
    allowed = 0
    async with RedisService(redis_config) as redis:

        async def hit() -> None:
            nonlocal allowed
            ok, _ = await redis.check_rate_limit("burst", 25, 30)
            allowed += ok

        async with anyio.create_task_group() as tg:
            for _ in range(200):
                tg.start_soon(hit)
    assert allowed == 25


async def test_two_processes_share_the_limit(redis_config: RedisConfig) -> None:
    code = textwrap.dedent(f"""
        import anyio
        from anyservices.redis import RedisConfig, RedisService
        async def main():
            config = RedisConfig(
                url={redis_config.describe()!r}, namespace={redis_config.namespace!r}
            )
            async with RedisService(config) as redis:
                allowed = 0
                for _ in range(60):
                    ok, _ = await redis.check_rate_limit("procs", 50, 30)
                    allowed += ok
                print(allowed)
        anyio.run(main)
    """)
    child = await anyio.open_process([sys.executable, "-c", code], stdout=subprocess.PIPE)
    allowed_here = 0
    async with RedisService(redis_config) as redis:
        for _ in range(60):
            ok, _ = await redis.check_rate_limit("procs", 50, 30)
            allowed_here += ok
    assert child.stdout is not None
    async with child:
        output = b"".join([chunk async for chunk in child.stdout])
        assert await child.wait() == 0
    assert allowed_here + int(output) == 50
