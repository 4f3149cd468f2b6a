"""Every row of issue 13's performance table, in one run: interleaved rounds, medians.

    python benchmarks/bench_targets.py [--rounds 5] [--seconds 0.5] [--only redis,mongo,s3,portal]

Each round measures every variant of every row back to back, in an order that rotates
from round to round, so that machine and server drift hit them all alike; a figure is
the median over the rounds and a ratio is the ratio of two medians of the same run.
Client CPU per operation is this process's ``time.process_time`` per operation (the
servers are other processes). Uses the local servers (``python -m anyservices.devservers
env``). Nothing here asserts a timing: each row says whether it met its target.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import math
import os
import statistics
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import anyio
import bench_mongo
import bench_portal
import redis.asyncio as redis_py_async
from bench_minio import in_workers, peer_client
from bench_redis import run_async as redis_async
from bench_redis import run_threads as redis_threads
from pydantic import SecretStr

import redis as redis_py
from anyservices import blocking
from anyservices._core._portal import Backend, acquire_portal, release_portal
from anyservices.minio import MinioConfig, MinioService
from anyservices.redis import RedisConfig, RedisService
from minio import Minio

REDIS_URL = os.environ.get("ANYSERVICES_REDIS_URL", "redis://127.0.0.1:6390/0")
MiB = 1024 * 1024
Figures = dict[str, list[float]]  # variant -> one figure per round
# case, medians, ratio, target, met (None: a floor, which has no target)
Rows = list[tuple[str, str, float, str, bool | None]]


def median(figures: Figures, name: str) -> float:
    return statistics.median(figures[name])


# -- Redis --------------------------------------------------------------------------------


async def _ours_gets(c: int, s: float) -> float:
    config = RedisConfig.model_validate({"url": REDIS_URL, "namespace": "bench"})
    async with RedisService(config) as service:
        return await redis_async(lambda i: service.get(f"k{i % 1000}"), c, s)


async def _peer_gets(c: int, s: float) -> float:
    client = redis_py_async.Redis.from_url(REDIS_URL, max_connections=64, decode_responses=True)
    try:
        return await redis_async(lambda i: client.get(f"bench:k{i % 1000}"), c, s)
    finally:
        await client.aclose()


_GETS = [b"*2\r\n$3\r\nGET\r\n$%d\r\nbench:k%d\r\n" % (len(f"bench:k{i}"), i) for i in range(1000)]
_REPLY = 23  # $16\r\n, a 16-byte value, \r\n


async def _bare_gets(s: float) -> float:
    """The floor at c=1: GETs over a bare anyio socket, no client at all (each reply is
    read until it is whole)."""
    parts = urlsplit(REDIS_URL)
    stream = await anyio.connect_tcp(parts.hostname or "127.0.0.1", parts.port or 6379)
    async with stream:
        done, deadline = 0, time.perf_counter() + s
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            await stream.send(_GETS[done % 1000])
            reply = await stream.receive()
            while len(reply) < _REPLY:
                reply += await stream.receive()
            done += 1
        return done / (time.perf_counter() - started)


async def _tasks_gets(s: float) -> float:
    """Our connection's shape with no client code: the caller queues its bytes and an
    Event, a writer task sends, a reader task sets the Event of each reply."""
    parts = urlsplit(REDIS_URL)
    stream = await anyio.connect_tcp(parts.hostname or "127.0.0.1", parts.port or 6379)
    waiting: deque[anyio.Event] = deque()
    outbox: list[bytes] = []
    wakeup = [anyio.Event()]

    async def reader() -> None:
        buffer = b""
        while True:
            buffer += await stream.receive()
            while len(buffer) >= _REPLY:
                buffer = buffer[_REPLY:]
                waiting.popleft().set()

    async def writer() -> None:
        while True:
            await wakeup[0].wait()
            wakeup[0] = anyio.Event()
            while outbox:
                data = b"".join(outbox)
                outbox.clear()
                await stream.send(data)

    async with stream, anyio.create_task_group() as tg:
        tg.start_soon(reader)
        tg.start_soon(writer)
        done, deadline = 0, time.perf_counter() + s
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            replied = anyio.Event()
            waiting.append(replied)
            outbox.append(_GETS[done % 1000])
            wakeup[0].set()
            await replied.wait()
            done += 1
        tg.cancel_scope.cancel()
        return done / (time.perf_counter() - started)


def redis_variants(s: float) -> dict[str, Callable[[], float]]:
    """Each variant measures GET ops/s for ``s`` seconds."""
    seeded = redis_py.Redis.from_url(REDIS_URL)
    seeded.mset({f"bench:k{i}": "v" * 16 for i in range(1000)})
    seeded.close()
    variants: dict[str, Callable[[], float]] = {}
    for c in (1, 64):
        variants[f"redis-py asyncio c={c}"] = functools.partial(anyio.run, _peer_gets, c, s)
        for backend in ("asyncio", "trio"):
            variants[f"ours {backend} c={c}"] = functools.partial(
                anyio.run, _ours_gets, c, s, backend=backend
            )
    for backend in ("asyncio", "trio"):
        variants[f"bare socket {backend} c=1"] = functools.partial(
            anyio.run, _bare_gets, s, backend=backend
        )
        variants[f"reader and writer tasks {backend} c=1"] = functools.partial(
            anyio.run, _tasks_gets, s, backend=backend
        )

    def ours_sync() -> float:
        config = RedisConfig.model_validate({"url": REDIS_URL, "namespace": "bench"})
        with blocking(RedisService(config)) as service:
            return redis_threads(lambda i: service.get(f"k{i % 1000}"), 1, s)

    def peer_sync() -> float:
        client = redis_py.Redis.from_url(REDIS_URL, decode_responses=True)
        try:
            return redis_threads(lambda i: client.get(f"bench:k{i % 1000}"), 1, s)
        finally:
            client.close()

    variants["ours sync face 1 thread"] = ours_sync
    variants["redis-py sync 1 thread"] = peer_sync
    return variants


def redis_rows(f: Figures) -> Rows:
    rows: Rows = []
    for c, target in ((64, 5.0), (1, 1.3)):
        peer = median(f, f"redis-py asyncio c={c}")
        for backend in ("asyncio", "trio"):
            ours = median(f, f"ours {backend} c={c}")
            rows.append(
                (
                    f"Redis GET c={c}, {backend}, vs redis-py asyncio",
                    f"{ours:.0f} vs {peer:.0f} ops/s",
                    ours / peer,
                    f">= {target}x",
                    ours / peer >= target,
                )
            )
    peer = median(f, "redis-py asyncio c=1")
    floors = (("bare socket", "bare anyio socket"), ("reader and writer tasks", "our task shape"))
    for backend in ("asyncio", "trio"):
        for variant, what in floors:
            floor = median(f, f"{variant} {backend} c=1")
            rows.append(
                (
                    f"(floor) {what}, no client code, GET c=1, {backend}, vs redis-py asyncio",
                    f"{floor:.0f} vs {peer:.0f} ops/s",
                    floor / peer,
                    "none: what c=1 could reach",
                    None,
                )
            )
    ours, peer = median(f, "ours sync face 1 thread"), median(f, "redis-py sync 1 thread")
    rows.append(
        (
            "Redis sync face 1 thread vs redis-py sync",
            f"{1e6 / ours:.0f} vs {1e6 / peer:.0f} us/call",
            ours / peer,
            ">= 0.6x",
            ours / peer >= 0.6,
        )
    )
    overhead = 1e6 / ours - 1e6 / median(f, "ours asyncio c=1")
    rows.append(
        (
            "Redis sync face overhead over our asyncio c=1",
            f"{overhead:+.0f} us/call",
            float("nan"),
            "<= 30 us",
            overhead <= 30,
        )
    )
    return rows


# -- MongoDB ------------------------------------------------------------------------------

MONGO_CELLS: dict[str, tuple[bench_mongo.Cell, str]] = {
    "AsyncMongoClient find_one": (bench_mongo._pymongo_async, "find_one"),  # noqa: SLF001 -- a sibling script's cell
    "MongoClient find_one": (bench_mongo.pymongo_sync, "find_one"),
    "ours asyncio find_one": (bench_mongo._ours_asyncio, "find_one"),  # noqa: SLF001 -- as above
    "ours trio find_one": (bench_mongo._ours_trio, "find_one"),  # noqa: SLF001 -- as above
    "ours sync face find_one": (bench_mongo.ours_sync, "find_one"),
    "AsyncMongoClient insert_one": (bench_mongo._pymongo_async, "insert_one"),  # noqa: SLF001 -- as above
    "ours asyncio insert_one": (bench_mongo._ours_asyncio, "insert_one"),  # noqa: SLF001 -- as above
}


def mongo_variants(s: float, cpu: Figures) -> dict[str, Callable[[], float]]:
    """Each variant measures ops/s at c=1; its CPU per op goes into ``cpu``."""
    ids = bench_mongo.seed()

    def cell(name: str) -> float:
        run, op = MONGO_CELLS[name]
        rate, per_op = run(op, 1, s, ids)
        cpu.setdefault(name, []).append(per_op)
        return rate

    return {name: functools.partial(cell, name) for name in MONGO_CELLS}


def mongo_rows(f: Figures, cpu: Figures) -> Rows:
    ours, peer = median(cpu, "ours sync face find_one"), median(cpu, "MongoClient find_one")
    rows = [
        (
            "Mongo find_one c=1 sync face, client CPU/op vs pymongo sync",
            f"{ours:.0f} vs {peer:.0f} us",
            ours / peer,
            "<= 1.2x",
            ours / peer <= 1.2,
        )
    ]
    for op in ("find_one", "insert_one"):
        ours, peer = median(f, f"ours asyncio {op}"), median(f, f"AsyncMongoClient {op}")
        ours_cpu, peer_cpu = (
            median(cpu, f"ours asyncio {op}"),
            median(cpu, f"AsyncMongoClient {op}"),
        )
        rows.append(
            (
                f"Mongo {op} c=1 asyncio vs AsyncMongoClient",
                f"{ours:.0f} vs {peer:.0f} ops/s; CPU {ours_cpu:.0f} vs {peer_cpu:.0f} us/op",
                ours / peer,
                ">= 1.0x, CPU <=",
                ours / peer >= 1.0 and ours_cpu <= peer_cpu,
            )
        )
    ours, peer = median(f, "ours trio find_one"), median(f, "ours asyncio find_one")
    rows.append(
        (
            "Mongo find_one c=1 trio vs our asyncio",
            f"{ours:.0f} vs {peer:.0f} ops/s",
            ours / peer,
            ">= 0.9x",
            ours / peer >= 0.9,
        )
    )
    return rows


# -- S3 -----------------------------------------------------------------------------------

SMALL, SMALL_COUNT, CONCURRENCY, LARGE = 1024, 200, 16, 64 * MiB
#: Client CPU per small put (µs), per variant and round: time.process_time over the puts.
_S3_CPU: Figures = {}
#: The event loop thread's share of it (time.thread_time), for the async variants.
_S3_LOOP: Figures = {}


def _minio_config(bucket: str) -> MinioConfig:
    return MinioConfig(
        endpoint=os.environ["ANYSERVICES_MINIO_ENDPOINT"],
        access_key=os.environ["ANYSERVICES_MINIO_ACCESS_KEY"],
        secret_key=SecretStr(os.environ["ANYSERVICES_MINIO_SECRET_KEY"]),
        region=os.environ.get("ANYSERVICES_MINIO_REGION") or None,
        default_bucket=bucket,
        auto_create_bucket=True,
        max_concurrency=CONCURRENCY,
    )


def _timed(variant: str, count: int, started: float, cpu: float, in_loop: float = -1) -> float:
    _S3_CPU.setdefault(variant, []).append((time.process_time() - cpu) / count * 1e6)
    if in_loop >= 0:
        _S3_LOOP.setdefault(variant, []).append((time.thread_time() - in_loop) / count * 1e6)
    return count / (time.perf_counter() - started)


async def _ours_small_puts(config: MinioConfig, blobs: list[bytes]) -> float:
    async with MinioService(config) as s3:
        # Warm: one pooled connection per worker, as the SDK's are after its first round.
        await in_workers(lambda i: s3.upload_data(f"ours-small/{i}", blobs[i]), CONCURRENCY)
        started, cpu, in_loop = time.perf_counter(), time.process_time(), time.thread_time()
        await in_workers(lambda i: s3.upload_data(f"ours-small/{i}", blobs[i]), len(blobs))
        return _timed("ours small puts c=16", len(blobs), started, cpu, in_loop)


async def _floor_small_puts(sdk: Minio, bucket: str, blobs: list[bytes]) -> float:
    """The SDK behind asyncio's own executor, 16 tasks: the cheapest async wrapper there
    is (no limiter, no cancellation, no error mapping), the floor of the hops."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(CONCURRENCY) as pool:

        def put(i: int) -> asyncio.Future[object]:
            data = io.BytesIO(blobs[i])
            return loop.run_in_executor(pool, sdk.put_object, bucket, f"floor/{i}", data, SMALL)

        started, cpu, in_loop = time.perf_counter(), time.process_time(), time.thread_time()
        await in_workers(put, len(blobs))
        return _timed("floor: SDK via run_in_executor c=16", len(blobs), started, cpu, in_loop)


async def _ours_stream_down(config: MinioConfig) -> float:
    async with MinioService(config) as s3:
        started = time.perf_counter()
        size = 0
        async for chunk in s3.download_stream("large"):
            size += len(chunk)
        return size / MiB / (time.perf_counter() - started)


async def _ours_setup(config: MinioConfig, payload: bytes) -> None:
    async with MinioService(config) as s3:
        await s3.upload_data("large", payload)


async def _ours_cleanup(config: MinioConfig) -> None:
    async with MinioService(config) as s3:
        for name in await s3.list_objects():
            await s3.remove_object(name)


def s3_variants(state: list[Callable[[], None]]) -> dict[str, Callable[[], float]]:
    """Small puts in obj/s and a 64 MiB download in MiB/s; ``state`` gets the cleanup."""
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    config = _minio_config(bucket)
    sdk = peer_client(config)
    blobs = [os.urandom(SMALL) for _ in range(SMALL_COUNT)]
    anyio.run(_ours_setup, config, os.urandom(LARGE))

    def sdk_put(i: int) -> None:
        sdk.put_object(bucket, f"sdk-small/{i}", io.BytesIO(blobs[i]), SMALL)

    with ThreadPoolExecutor(CONCURRENCY) as warm:  # one pooled connection per thread
        list(warm.map(sdk_put, range(CONCURRENCY)))

    def sdk_small_puts() -> float:
        started, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(sdk_put, range(SMALL_COUNT)))
        return _timed("SDK small puts 16 threads", SMALL_COUNT, started, cpu)

    def sdk_download() -> float:
        started = time.perf_counter()
        response = sdk.get_object(bucket, "large")
        try:
            size = len(response.read())
        finally:
            response.close()
            response.release_conn()
        return size / MiB / (time.perf_counter() - started)

    def cleanup() -> None:
        anyio.run(_ours_cleanup, config)
        sdk.remove_bucket(bucket)

    state.append(cleanup)
    return {
        "ours small puts c=16": functools.partial(anyio.run, _ours_small_puts, config, blobs),
        "SDK small puts 16 threads": sdk_small_puts,
        "floor: SDK via run_in_executor c=16": functools.partial(
            anyio.run, _floor_small_puts, sdk, bucket, blobs
        ),
        "ours 64 MiB streamed download": functools.partial(anyio.run, _ours_stream_down, config),
        "SDK 64 MiB download": sdk_download,
    }


def s3_rows(f: Figures) -> Rows:
    ours, peer = median(f, "ours small puts c=16"), median(f, "SDK small puts 16 threads")
    floor = median(f, "floor: SDK via run_in_executor c=16")
    cpu = {name: statistics.median(figures) for name, figures in _S3_CPU.items()}
    loop = {name: statistics.median(figures) for name, figures in _S3_LOOP.items()}
    down, sdk_down = median(f, "ours 64 MiB streamed download"), median(f, "SDK 64 MiB download")
    ours_name, floor_name = "ours small puts c=16", "floor: SDK via run_in_executor c=16"
    detail = (
        f"{ours:.0f} vs {peer:.0f} obj/s; client CPU {cpu[ours_name]:.0f} vs "
        f"{cpu['SDK small puts 16 threads']:.0f} µs/put (loop thread {loop[ours_name]:.0f}); "
        f"floor (the SDK behind asyncio's executor) {floor:.0f} obj/s = {floor / peer:.2f}x, "
        f"{cpu[floor_name]:.0f} µs/put (loop thread {loop[floor_name]:.0f})"
    )
    return [
        (
            "S3 200 x 1 KiB puts c=16 vs the SDK in 16 threads",
            detail,
            ours / peer,
            ">= 1.0x",
            ours / peer >= 1.0,
        ),
        (
            "S3 64 MiB streamed download vs the SDK",
            f"{down:.0f} vs {sdk_down:.0f} MiB/s",
            down / sdk_down,
            ">= 0.95x",
            down / sdk_down >= 0.95,
        ),
    ]


# -- the portal ---------------------------------------------------------------------------


def portal_variants(state: list[Callable[[], None]]) -> dict[str, Callable[[], float]]:
    """Each variant: the median latency (us) of 3000 no-op calls."""
    variants: dict[str, Callable[[], float]] = {}
    backends: list[Backend] = ["asyncio", "trio"]
    for backend in backends:
        portal = acquire_portal(backend)
        state.append(functools.partial(release_portal, portal))
        call = functools.partial(portal.call, bench_portal.noop)
        bench_portal.sample(call, 2000)

        def measure(call: Callable[[], object] = call) -> float:
            samples, _ = bench_portal.sample(call, 3000)
            return statistics.median(samples) / 1000

        variants[f"portal no-op {backend}"] = measure
    return variants


def portal_rows(f: Figures) -> Rows:
    return [
        (
            f"Portal no-op median, {backend}",
            f"{median(f, f'portal no-op {backend}'):.1f} us",
            float("nan"),
            "<= 15 us",
            median(f, f"portal no-op {backend}") <= 15,
        )
        for backend in ("asyncio", "trio")
    ]


# -- the run ------------------------------------------------------------------------------


GROUPS: dict[str, tuple[Callable[..., dict[str, Callable[[], float]]], Callable[..., Rows]]] = {
    "redis": (redis_variants, redis_rows),
    "mongo": (mongo_variants, mongo_rows),
    "s3": (s3_variants, s3_rows),
    "portal": (portal_variants, portal_rows),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--seconds", type=float, default=0.5, help="per timed Redis/Mongo cell")
    parser.add_argument("--only", default=",".join(GROUPS), help="comma-separated groups")
    options = parser.parse_args()
    groups = [name for name in GROUPS if name in options.only.split(",")]
    cleanups: list[Callable[[], None]] = []
    cpu: Figures = {}
    arguments: dict[str, tuple[object, ...]] = {
        "redis": (options.seconds,),
        "mongo": (options.seconds, cpu),
        "s3": (cleanups,),
        "portal": (cleanups,),
    }
    variants: dict[str, Callable[[], float]] = {}
    for group in groups:
        variants |= GROUPS[group][0](*arguments[group])
    figures: Figures = {name: [] for name in variants}
    names = list(variants)
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} CPUs; {options.rounds} rounds")
    try:
        for r in range(options.rounds):
            shift = r * len(names) // max(options.rounds, 1)
            for name in names[shift:] + names[:shift]:
                figures[name].append(variants[name]())
    finally:
        for cleanup in reversed(cleanups):
            cleanup()
        if "mongo" in groups:
            bench_mongo.drop_database()
    print("| case | medians | ratio | target | |\n|---|---|---|---|---|")
    for group in groups:
        rows = GROUPS[group][1](figures, cpu) if group == "mongo" else GROUPS[group][1](figures)
        for case, detail, ratio, target, met in rows:
            shown = "" if math.isnan(ratio) else f"{ratio:.2f}x"  # NaN: the figure is the row
            verdict = "floor" if met is None else "met" if met else "MISSED"
            print(f"| {case} | {detail} | {shown} | {target} | {verdict} |")


if __name__ == "__main__":
    main()
