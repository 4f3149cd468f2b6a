"""GET/SET throughput of RedisService against redis-py (and coredis on trio), same server.

    python benchmarks/bench_redis.py [--seconds 1.5]

Uses ANYSERVICES_REDIS_URL (the local devserver by default). Prints ops/s and the
ratio ours/peer for each row; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import anyio
import redis.asyncio as redis_py_async

import redis as redis_py
from anyservices import blocking
from anyservices.redis import RedisConfig, RedisService

URL = os.environ.get("ANYSERVICES_REDIS_URL", "redis://127.0.0.1:6390/0")


async def run_async(
    op: Callable[[int], Awaitable[object]], concurrency: int, seconds: float
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(worker_id: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < deadline:
            await op(worker_id * 1_000_000 + i)
            i += 1
        done += i

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for worker_id in range(concurrency):
            tg.start_soon(worker, worker_id)
    return done / (time.perf_counter() - started)


def run_threads(op: Callable[[int], object], threads: int, seconds: float) -> float:
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def worker(worker_id: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            op(worker_id * 1_000_000 + i)
            i += 1
        counts[worker_id] = i

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def row(name: str, ours: float, peer: float, peer_name: str) -> None:
    print(f"{name:34} {ours:10.0f} {peer:10.0f}  {ours / peer:5.2f}x vs {peer_name}")


async def ours_async(backend: str, seconds: float) -> dict[tuple[str, int], float]:
    results: dict[tuple[str, int], float] = {}
    config = RedisConfig.model_validate({"url": URL, "namespace": "bench"})
    async with RedisService(config) as redis:
        for concurrency in (1, 64):
            results["SET", concurrency] = await run_async(
                lambda i: redis.set(f"k{i % 1000}", "v" * 16), concurrency, seconds
            )
            results["GET", concurrency] = await run_async(
                lambda i: redis.get(f"k{i % 1000}"), concurrency, seconds
            )
    del backend
    return results


async def redis_py_asyncio(seconds: float) -> dict[tuple[str, int], float]:
    results: dict[tuple[str, int], float] = {}
    client = redis_py_async.Redis.from_url(URL, max_connections=64, decode_responses=True)
    try:
        for concurrency in (1, 64):
            results["SET", concurrency] = await run_async(
                lambda i: client.set(f"bench:k{i % 1000}", "v" * 16), concurrency, seconds
            )
            results["GET", concurrency] = await run_async(
                lambda i: client.get(f"bench:k{i % 1000}"), concurrency, seconds
            )
    finally:
        await client.aclose()
    return results


async def coredis_trio(seconds: float) -> dict[tuple[str, int], float] | None:
    try:
        import coredis  # noqa: PLC0415 -- optional peer
    except ImportError:
        return None
    results: dict[tuple[str, int], float] = {}
    client = coredis.Redis.from_url(URL, decode_responses=True)
    async with client:
        for concurrency in (1, 64):
            results["SET", concurrency] = await run_async(
                lambda i: client.set(f"bench:k{i % 1000}", "v" * 16), concurrency, seconds
            )
            results["GET", concurrency] = await run_async(
                lambda i: client.get(f"bench:k{i % 1000}"), concurrency, seconds
            )
    return results


def sync_faces(seconds: float) -> dict[int, float]:
    config = RedisConfig.model_validate({"url": URL, "namespace": "bench"})
    peer = redis_py.Redis.from_url(URL, decode_responses=True, max_connections=64)
    results: dict[int, float] = {}
    with blocking(RedisService(config)) as redis:
        for threads in (1, 16):
            ours = run_threads(lambda i: redis.get(f"k{i % 1000}"), threads, seconds)
            theirs = run_threads(lambda i: peer.get(f"bench:k{i % 1000}"), threads, seconds)
            row(f"sync face GET, {threads} thread(s)", ours, theirs, "redis-py sync")
            results[threads] = ours
    peer.close()
    return results


def c_client(op: str, clients: int, seconds: float) -> float | None:
    """What redis-benchmark (the C client) does on the same server, for scale."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return None
    parts = urlsplit(URL)
    requests = max(1000, int(seconds * (15_000 if clients == 1 else 60_000)))
    command = [binary, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379)]
    command += ["-t", op.lower(), "-c", str(clients), "-n", str(requests), "-d", "16", "--csv"]
    output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    for line in output.splitlines():
        fields = [field.strip('"') for field in line.split(",")]
        if fields[0] == op.upper():
            return float(fields[1])
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.5, help="per measurement")
    seconds = parser.parse_args().seconds
    print(f"server {URL}; {seconds} s per measurement; ops/s")
    print(f"{'':34} {'ours':>10} {'peer':>10}")
    peer = anyio.run(redis_py_asyncio, seconds)
    ours_asyncio = anyio.run(ours_async, "asyncio", seconds)
    for (op, concurrency), value in ours_asyncio.items():
        row(f"asyncio {op} c={concurrency}", value, peer[op, concurrency], "redis-py asyncio")
    ours_trio = anyio.run(ours_async, "trio", seconds, backend="trio")
    for (op, concurrency), value in ours_trio.items():
        row(f"trio {op} c={concurrency}", value, peer[op, concurrency], "redis-py asyncio")
    core = anyio.run(coredis_trio, seconds, backend="trio")
    if core is not None:
        for (op, concurrency), value in ours_trio.items():
            row(f"trio {op} c={concurrency}", value, core[op, concurrency], "coredis on trio")
    sync = sync_faces(seconds)
    for op in ("GET", "SET"):
        c64 = c_client(op, 64, seconds)
        if c64 is not None:
            best = max(ours_asyncio[op, 64], ours_trio[op, 64])
            row(f"best of ours {op} c=64", best, c64, "C client, 64 connections")
    one_async, one_sync = ours_asyncio["GET", 1], sync[1]
    print(
        f"sync face, one thread: {1e6 / one_sync:.1f} µs/call; async face GET c=1: "
        f"{1e6 / one_async:.1f} µs/call; difference {1e6 / one_sync - 1e6 / one_async:+.1f} µs"
    )


if __name__ == "__main__":
    main()
