"""The cache decorator's hit path and single-flight miss path, ours against cashews.

    python benchmarks/bench_redis_cache.py [--seconds 1.0]

Both libraries talk to the same Redis (ANYSERVICES_REDIS_URL, the local devserver by
default) in the same process on asyncio. Prints calls/s and the ratio ours/cashews per
row; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import anyio
from cashews import Cache

from anyservices.redis import RedisConfig, RedisService

URL = os.environ.get("ANYSERVICES_REDIS_URL", "redis://127.0.0.1:6390/0")


async def rate(call: Callable[[int], Awaitable[object]], concurrency: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(worker_id: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < deadline:
            await call(worker_id + i % 16)  # 16 distinct arguments: all hits after warm-up
            i += 1
        done += i

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for worker_id in range(concurrency):
            tg.start_soon(worker, worker_id)
    return done / (time.perf_counter() - started)


async def main(seconds: float) -> None:
    run = uuid.uuid4().hex[:8]
    config = RedisConfig.model_validate({"url": URL, "namespace": f"bench-cache-{run}"})
    cashews = Cache()
    cashews.setup(URL, client_side=False)
    rows: list[tuple[str, float, float]] = []
    async with RedisService(config) as redis:

        @redis.cache(ttl=60)
        async def ours(n: int) -> dict[str, int]:
            return {"n": n}

        @redis.cache(ttl=60, prevent_thundering_herd=True)
        async def ours_sf(n: int) -> dict[str, int]:
            return {"n": n}

        @cashews(ttl=60, prefix=f"bench-cashews-{run}")
        async def theirs(n: int) -> dict[str, int]:
            return {"n": n}

        @cashews(ttl=60, prefix=f"bench-cashews-lock-{run}", lock=True)
        async def theirs_sf(n: int) -> dict[str, int]:
            return {"n": n}

        for concurrency in (1, 32):
            for name, mine, peer in (
                ("hit", ours, theirs),
                ("hit, single-flight", ours_sf, theirs_sf),
            ):
                await rate(mine, concurrency, 0.1)  # warm up: fill the cache
                await rate(peer, concurrency, 0.1)
                rows.append(
                    (
                        f"{name}, {concurrency} task(s)",
                        await rate(mine, concurrency, seconds),
                        await rate(peer, concurrency, seconds),
                    )
                )
        await ours.invalidate_all()
        await ours_sf.invalidate_all()
    await cashews.delete_match(f"bench-cashews*{run}*")
    await cashews.close()
    print(f"{'case':32} {'ours calls/s':>14} {'cashews calls/s':>16} {'ratio':>7}")
    for case, mine_rate, peer_rate in rows:
        print(f"{case:32} {mine_rate:14,.0f} {peer_rate:16,.0f} {mine_rate / peer_rate:7.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0)
    anyio.run(main, parser.parse_args().seconds)
