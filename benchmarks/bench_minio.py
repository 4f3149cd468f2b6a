"""MinioService against the minio SDK used synchronously, same server, same process.

    python benchmarks/bench_minio.py            # needs the local S3 server (devservers)
    python benchmarks/bench_minio.py --handoffs [--backend trio] [--rounds 5]

Prints throughput for a 64 MiB upload and download (best of 3 alternating rounds), 200
small objects by 16 tasks (against the SDK run sequentially and in 16 threads, each side
warm, with the client CPU per put), and the peak RSS growth of a 512 MiB streamed upload
+ download generated on the fly. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import os
import resource
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import anyio
import urllib3
from pydantic import SecretStr

from anyservices.devservers import ensure_started
from anyservices.minio import MinioConfig, MinioService
from minio import Minio

MiB = 1024 * 1024
LARGE = 64 * MiB
SMALL_COUNT = 200
CONCURRENCY = 16
HUGE = 512 * MiB
PART = 16 * MiB
#: Alternating rounds of the large transfers (best of each is printed).
ROUNDS = 3


def rss_mib() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / (1024 * 1024) if sys.platform == "darwin" else usage / 1024


async def generated(total: int, size: int = MiB) -> AsyncIterator[bytes]:
    block = os.urandom(size)
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield block[:n]
        sent += n


def peer_client(config: MinioConfig) -> Minio:
    """The SDK as it builds itself, with one pooled connection per thread (it keeps 10 by
    default: 16 threads would open and discard connections all the time)."""
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=300, read=300),
        maxsize=CONCURRENCY,
        retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )
    return Minio(
        config.endpoint,
        access_key=config.access_key,
        secret_key=config.secret_key.get_secret_value(),
        secure=False,
        region=config.region,
        http_client=http,
    )


async def in_workers(put: Callable[[int], Awaitable[object]], count: int) -> None:
    """``put(i)`` for i < count by CONCURRENCY tasks taking the next index when done: the
    async twin of a thread pool's workers."""
    indices = iter(range(count))

    async def worker() -> None:
        for i in indices:
            await put(i)

    async with anyio.create_task_group() as tg:
        for _ in range(CONCURRENCY):
            tg.start_soon(worker)


def per_put(started: float, cpu: float) -> tuple[float, float]:
    """(puts per second, client CPU µs per put) of the SMALL_COUNT puts since then."""
    wall = time.perf_counter() - started
    return SMALL_COUNT / wall, (time.process_time() - cpu) / SMALL_COUNT * 1e6


def env() -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if k.startswith("ANYSERVICES_")}
    if "ANYSERVICES_MINIO_ENDPOINT" not in found:
        found.update(ensure_started(only=["s3"]))
    return found


async def handoffs(rounds: int) -> None:
    """How long a small put waits for its two thread hand-overs: from the task's call to
    the worker thread starting the SDK call, and from the SDK call's return to the task
    running again (the 16 SDK threads of the peer make neither: a thread that finished a
    put starts the next one itself). Medians over ``rounds`` rounds of the per-round
    mean, median and 90th percentile."""
    variables = env()
    config = MinioConfig(
        endpoint=variables["ANYSERVICES_MINIO_ENDPOINT"],
        access_key=variables["ANYSERVICES_MINIO_ACCESS_KEY"],
        secret_key=SecretStr(variables["ANYSERVICES_MINIO_SECRET_KEY"]),
        region=variables.get("ANYSERVICES_MINIO_REGION") or None,
        default_bucket=f"bench-{uuid.uuid4().hex[:10]}",
        auto_create_bucket=True,
        max_concurrency=CONCURRENCY,
    )
    small = [os.urandom(1024) for _ in range(SMALL_COUNT)]
    names = ("to worker", "back to task", "whole put")
    means: dict[str, list[float]] = {name: [] for name in names}
    medians: dict[str, list[float]] = {name: [] for name in names}
    p90s: dict[str, list[float]] = {name: [] for name in names}
    async with MinioService(config) as s3:
        calls = s3._sdk  # noqa: SLF001 -- the one boundary every SDK call crosses
        bucket = config.default_bucket or ""
        waits: dict[str, list[float]] = {name: [] for name in names}

        async def put(i: int) -> None:
            stamps: list[float] = []

            def call() -> None:  # what upload_data runs in the worker, with two stamps
                stamps.append(time.perf_counter())
                calls.client.put_object(bucket, f"hop/{i}", io.BytesIO(small[i]), 1024)
                stamps.append(time.perf_counter())

            asked = time.perf_counter()
            await calls.run(call, "upload_data")
            back = time.perf_counter()
            waits["to worker"].append(stamps[0] - asked)
            waits["back to task"].append(back - stamps[1])
            waits["whole put"].append(back - asked)

        for _ in range(rounds):
            await in_workers(put, CONCURRENCY)  # warm
            for values in waits.values():
                values.clear()
            await in_workers(put, SMALL_COUNT)
            for name, values in waits.items():
                ordered = sorted(values)
                means[name].append(statistics.fmean(ordered))
                medians[name].append(statistics.median(ordered))
                p90s[name].append(ordered[len(ordered) * 9 // 10])
        for name in await s3.list_objects():
            await s3.remove_object(name)
        await s3.remove_bucket()
    load = os.getloadavg()[0]
    print(f"{SMALL_COUNT} x 1 KiB puts by {CONCURRENCY} tasks, {rounds} rounds, load {load:.1f}:")
    for name in names:
        mean, median = statistics.median(means[name]), statistics.median(medians[name])
        p90 = statistics.median(p90s[name])
        figures = f"mean {mean * 1e3:6.2f} ms, median {median * 1e3:6.2f}, p90 {p90 * 1e3:6.2f}"
        print(f"  {name:13} {figures}")


async def main() -> None:  # noqa: PLR0915 -- one linear script
    variables = env()
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    config = MinioConfig(
        endpoint=variables["ANYSERVICES_MINIO_ENDPOINT"],
        access_key=variables["ANYSERVICES_MINIO_ACCESS_KEY"],
        secret_key=SecretStr(variables["ANYSERVICES_MINIO_SECRET_KEY"]),
        region=variables.get("ANYSERVICES_MINIO_REGION") or None,
        default_bucket=bucket,
        auto_create_bucket=True,
        max_concurrency=CONCURRENCY,
        part_size=PART,
    )
    sdk = peer_client(config)
    rows: list[tuple[str, float, float]] = []
    async with MinioService(config) as s3:
        # -- 512 MiB streamed both ways, generated on the fly, before any large buffer exists
        before = rss_mib()
        t = time.perf_counter()
        await s3.upload_data("huge", generated(HUGE))
        digest = hashlib.sha256()
        async for chunk in s3.download_stream("huge"):
            digest.update(chunk)
        huge_s = time.perf_counter() - t
        after = rss_mib()
        await s3.remove_object("huge")

        payload = os.urandom(LARGE)
        small = [os.urandom(1024) for _ in range(SMALL_COUNT)]
        # Large transfers: ROUNDS alternating rounds (SDK, then ours), best of each, so
        # neither side is measured alone in a different server state.
        sdk_up = sdk_down = ours_up = ours_down = ours_stream_up = ours_stream_down = 0.0
        for _ in range(ROUNDS):
            # -- the SDK, synchronously (its own defaults: put_object with 3 parallel parts)
            t = time.perf_counter()
            sdk.put_object(bucket, "sdk-large", io.BytesIO(payload), LARGE, part_size=PART)
            sdk_up = max(sdk_up, LARGE / MiB / (time.perf_counter() - t))
            t = time.perf_counter()
            response = sdk.get_object(bucket, "sdk-large")
            data = response.read()
            response.close()
            response.release_conn()
            sdk_down = max(sdk_down, LARGE / MiB / (time.perf_counter() - t))
            assert len(data) == LARGE
            del data
            # -- ours
            t = time.perf_counter()
            await s3.upload_data("ours-large", payload)
            ours_up = max(ours_up, LARGE / MiB / (time.perf_counter() - t))
            t = time.perf_counter()
            got = await s3.download_data("ours-large")
            ours_down = max(ours_down, LARGE / MiB / (time.perf_counter() - t))
            assert len(got) == LARGE
            del got
            t = time.perf_counter()
            await s3.upload_data("ours-stream", generated(LARGE))
            ours_stream_up = max(ours_stream_up, LARGE / MiB / (time.perf_counter() - t))
            t = time.perf_counter()
            size = 0
            async for chunk in s3.download_stream("ours-stream"):
                size += len(chunk)
            ours_stream_down = max(ours_stream_down, LARGE / MiB / (time.perf_counter() - t))

        # -- small puts: the SDK sequentially, ours at c=16, the SDK in 16 threads. Each
        # side warm (one pooled connection per worker), client CPU per put beside it.
        def sdk_put(prefix: str, i: int) -> None:
            blob = small[i]
            sdk.put_object(bucket, f"{prefix}/{i}", io.BytesIO(blob), len(blob))

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(functools.partial(sdk_put, "sdk-warm"), range(CONCURRENCY)))
        t, cpu = time.perf_counter(), time.process_time()
        for i in range(SMALL_COUNT):
            sdk_put("sdk-small", i)
        sdk_small, sdk_small_cpu = per_put(t, cpu)

        async def put(i: int) -> None:
            await s3.upload_data(f"ours-small/{i}", small[i])

        await in_workers(put, CONCURRENCY)  # warm
        t, cpu = time.perf_counter(), time.process_time()
        await in_workers(put, SMALL_COUNT)
        ours_small, ours_small_cpu = per_put(t, cpu)

        t, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(functools.partial(sdk_put, "sdk-threads"), range(SMALL_COUNT)))
        sdk_threads, sdk_threads_cpu = per_put(t, cpu)

        rows += [
            ("64 MiB upload, bytes (MiB/s)", ours_up, sdk_up),
            ("64 MiB upload, streamed (MiB/s)", ours_stream_up, sdk_up),
            ("64 MiB download, bytes (MiB/s)", ours_down, sdk_down),
            ("64 MiB download, streamed (MiB/s)", ours_stream_down, sdk_down),
            (
                f"{SMALL_COUNT} x 1 KiB puts, c={CONCURRENCY} vs sequential (obj/s)",
                ours_small,
                sdk_small,
            ),
            (
                f"{SMALL_COUNT} x 1 KiB puts, c={CONCURRENCY} vs {CONCURRENCY} threads (obj/s)",
                ours_small,
                sdk_threads,
            ),
            ("  client CPU per put, c=16 vs sequential (µs)", ours_small_cpu, sdk_small_cpu),
            ("  client CPU per put, c=16 vs 16 threads (µs)", ours_small_cpu, sdk_threads_cpu),
        ]

        for name in await s3.list_objects():
            await s3.remove_object(name)
        await anyio.to_thread.run_sync(sdk.remove_bucket, bucket)

    print(f"server: {variables.get('ANYSERVICES_S3_SERVER', '?')} at {config.endpoint}")
    print(f"{'case':58} {'ours':>9} {'minio SDK':>10} {'ratio':>7}")
    for label, ours, theirs in rows:
        print(f"{label:58} {ours:9.1f} {theirs:10.1f} {ours / theirs:6.2f}x")
    print(
        f"512 MiB streamed upload+download: {huge_s:.1f} s; peak RSS {before:.0f} MiB before, "
        f"{after:.0f} MiB after (growth {after - before:.0f} MiB; part size {PART // MiB} MiB)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--handoffs", action="store_true", help="only the hand-over waits")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --handoffs")
    options = parser.parse_args()
    if options.handoffs:
        anyio.run(handoffs, options.rounds, backend=options.backend)
    else:
        anyio.run(main, backend=options.backend)
