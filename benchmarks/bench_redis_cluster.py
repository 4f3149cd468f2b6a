"""GET/SET at 64 concurrent tasks on the 3-primary cluster: ours (asyncio, trio) against
redis-py's asyncio RedisCluster, in interleaved rounds; prints the median ratio.

    python benchmarks/bench_redis_cluster.py [--seconds 1.0] [--rounds 5]

Uses ANYSERVICES_REDIS_CLUSTER_NODES (the local devserver cluster by default). Nothing
here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Awaitable, Callable

import anyio
from bench_redis import run_async  # the same worker loop as the standalone benchmark
from redis.asyncio.cluster import ClusterNode, RedisCluster

from anyservices.redis import RedisConfig, RedisService

NODES = os.environ.get(
    "ANYSERVICES_REDIS_CLUSTER_NODES", ",".join(f"127.0.0.1:{p}" for p in range(7000, 7006))
).split(",")
CONCURRENCY = 64


async def throughput(op: Callable[[int], Awaitable[object]], seconds: float) -> float:
    """Operations per second of CONCURRENCY tasks calling ``op`` for ``seconds``."""
    return await run_async(op, CONCURRENCY, seconds)


async def ours(seconds: float) -> float:
    config = RedisConfig(mode="cluster", cluster_nodes=tuple(NODES), namespace="bench")
    async with RedisService(config) as redis:

        async def op(i: int) -> None:
            key = f"k{i % 10_000}"
            await redis.set(key, "v")
            await redis.get(key)

        return 2 * await throughput(op, seconds)


async def redis_py(seconds: float) -> float:
    startup = [ClusterNode(*node.rsplit(":", 1)) for node in NODES]
    client = RedisCluster(startup_nodes=startup, decode_responses=True)
    await client.initialize()
    try:

        async def op(i: int) -> None:
            key = f"bench:k{i % 10_000}"
            await client.set(key, "v")
            await client.get(key)

        return 2 * await throughput(op, seconds)
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    rows: dict[str, list[float]] = {"ours asyncio": [], "ours trio": [], "redis-py asyncio": []}
    for _ in range(options.rounds):  # interleaved, so that drift hits every contender
        rows["ours asyncio"].append(anyio.run(ours, options.seconds, backend="asyncio"))
        rows["redis-py asyncio"].append(anyio.run(redis_py, options.seconds, backend="asyncio"))
        rows["ours trio"].append(anyio.run(ours, options.seconds, backend="trio"))
    peer = statistics.median(rows["redis-py asyncio"])
    print(f"GET+SET ops/s at c={CONCURRENCY} on {len(NODES)} cluster nodes, "
          f"median of {options.rounds} rounds of {options.seconds} s")  # fmt: skip
    for name, values in rows.items():
        median = statistics.median(values)
        print(f"{name:18} {median:10.0f} ops/s  {median / peer:5.2f}x redis-py")


if __name__ == "__main__":
    main()
