"""The specification's load target: 1,000 concurrent requests, each a realistic mix.

    python benchmarks/bench_load.py [--requests 3000] [--rounds 3] [--chart docs/img/load.png]
    python benchmarks/bench_load.py --parts [--requests 1000]   # each part alone

One "request" is what a web handler does: a Redis cache lookup through get_or_compute,
a MongoDB find_one by an indexed field, a 4 KiB S3 get and an HTTP GET to a local
server. Variants, each in its own process (so peak RSS is its own), in interleaved
rounds, median reported:

- ours on asyncio and on trio: 1,000 tasks in flight at once through our services;
- (a) the same work one request at a time with the synchronous drivers (redis-py,
  pymongo, minio, httpx.Client);
- (b) a 32-thread pool of those synchronous drivers.

Printed: throughput, p50/p95/p99 latency (from a request's start to its end, queueing
included) and peak RSS, then ratios: ours / (a), ours / (b), RSS ours / (b). With
``--chart`` the figures are also drawn as a PNG (needs matplotlib). Uses the
ANYSERVICES_* variables of the local devservers. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CONCURRENCY = 1000
THREADS = 32
KEYS = 200  # distinct items: cache keys, documents, objects, URLs
OBJECT = os.urandom(4096)
COLLECTION = "load_items"
DATABASE = "anyservices_bench"
BUCKET = "anyservices-bench-load"
VARIANTS = ("asyncio", "trio", "sequential", "threads")


# -- the HTTP server (its own process, so it does not share our GIL) ------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 -- stdlib name
        del format, args


def serve_http(port_file: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.request_queue_size = 2048
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


@contextmanager
def http_server(tmp: Path) -> Iterator[str]:
    port_file = tmp / "http.port"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, __file__, "--serve-http", str(port_file)])
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark's HTTP server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text()}"
    finally:
        proc.terminate()
        proc.wait()


# -- the work ----------------------------------------------------------------------


def seed() -> None:
    """Documents with an indexed field and 4 KiB objects, once, with the sync drivers."""
    import pymongo  # noqa: PLC0415

    from anyservices import MinioConfig, MinioService, blocking  # noqa: PLC0415

    mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        os.environ["ANYSERVICES_MONGO_URL"]
    )
    collection = mongo[DATABASE][COLLECTION]
    collection.drop()
    collection.insert_many([{"sku": f"sku-{i}", "n": i} for i in range(KEYS)])
    collection.create_index("sku")
    mongo.close()
    with blocking(MinioService(MinioConfig.from_env())) as s3:
        s3.ensure_bucket(BUCKET)
        for i in range(KEYS):
            s3.upload_data(f"item-{i}", OBJECT, bucket_name=BUCKET)


def _compute(i: int) -> Callable[[], dict[str, int]]:
    return lambda: {"item": i, "price": i * 3}


async def ours(backend: str, requests: int, http_url: str) -> tuple[list[float], float]:
    import anyio  # noqa: PLC0415 -- the HTTP server process needs none of these

    from anyservices import (  # noqa: PLC0415
        HttpConfig,
        HttpService,
        MinioConfig,
        MinioService,
        MongoConfig,
        MongoService,
        RedisConfig,
        RedisService,
    )

    latencies: list[float] = []
    redis_config = RedisConfig.from_env(namespace=f"load-{backend}-{os.getpid()}")
    async with (
        RedisService(redis_config) as redis,
        MongoService(MongoConfig.from_env(database=DATABASE)) as mongo,
        MinioService(MinioConfig.from_env()) as s3,
        # Queued behind 1,000 requests on a small machine a GET can wait seconds for its
        # turn: a timeout that long is no failure here (nor a reason to open the circuit).
        HttpService(HttpConfig(base_url=http_url, max_connections=100, timeout=120.0)) as http,
    ):

        async def one(i: int) -> None:
            started = time.perf_counter()
            await redis.get_or_compute(f"item:{i}", _compute(i), ex=60)
            await mongo.find_one(COLLECTION, {"sku": f"sku-{i}"})
            await s3.download_data(f"item-{i}", bucket_name=BUCKET)
            await http.get(f"/item/{i}")
            latencies.append(time.perf_counter() - started)

        async def client(first: int) -> None:
            for n in range(first, requests, CONCURRENCY):
                await one(n % KEYS)

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for first in range(min(CONCURRENCY, requests)):
                tg.start_soon(client, first)
        wall = time.perf_counter() - started
        await redis.delete(*(f"item:{i}" for i in range(KEYS)))
    return latencies, wall


async def parts(requests: int, http_url: str) -> None:
    """Each part of a request alone through our services, at c=1 and c=CONCURRENCY."""
    import anyio  # noqa: PLC0415

    from anyservices import (  # noqa: PLC0415
        HttpConfig,
        HttpService,
        MinioConfig,
        MinioService,
        MongoConfig,
        MongoService,
        RedisConfig,
        RedisService,
    )

    async with (
        RedisService(RedisConfig.from_env(namespace=f"load-parts-{os.getpid()}")) as redis,
        MongoService(MongoConfig.from_env(database=DATABASE)) as mongo,
        MinioService(MinioConfig.from_env()) as s3,
        HttpService(HttpConfig(base_url=http_url, max_connections=100, timeout=120.0)) as http,
    ):
        ops: dict[str, Callable[[int], Any]] = {
            "Redis get_or_compute": lambda i: redis.get_or_compute(f"item:{i}", _compute(i)),
            "Mongo find_one": lambda i: mongo.find_one(COLLECTION, {"sku": f"sku-{i}"}),
            "S3 4 KiB download": lambda i: s3.download_data(f"item-{i}", bucket_name=BUCKET),
            "HTTP GET": lambda i: http.get(f"/item/{i}"),
        }
        print(f"{'part':22}{'c':>6}{'ops/s':>9}{'CPU us/op':>11}")
        for name, op in ops.items():
            for c in (1, CONCURRENCY):
                n = requests if c > 1 else requests // 5

                async def client(first: int, c: int = c, n: int = n, op: Any = op) -> None:
                    for k in range(first, n, c):
                        await op(k % KEYS)

                started, cpu = time.perf_counter(), time.process_time()
                async with anyio.create_task_group() as tg:
                    for first in range(c):
                        tg.start_soon(client, first)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                print(f"{name:22}{c:>6}{n / wall:>9.0f}{cpu / n * 1e6:>11.0f}")
        await redis.delete(*(f"item:{i}" for i in range(KEYS)))


def sync_drivers(http_url: str, pool: int) -> tuple[Callable[[int], None], Callable[[], None]]:
    import httpx  # noqa: PLC0415
    import pymongo  # noqa: PLC0415

    import redis as redis_py  # noqa: PLC0415
    from anyservices import MinioConfig  # noqa: PLC0415
    from minio import Minio  # noqa: PLC0415

    prefix = f"load-sync-{os.getpid()}:"
    r = redis_py.Redis.from_url(os.environ["ANYSERVICES_REDIS_URL"], max_connections=pool)
    mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        os.environ["ANYSERVICES_MONGO_URL"], maxPoolSize=pool
    )
    collection = mongo[DATABASE][COLLECTION]
    cfg = MinioConfig.from_env()
    s3 = Minio(
        cfg.endpoint,
        access_key=cfg.access_key,
        secret_key=cfg.secret_key.get_secret_value(),
        secure=cfg.secure,
        region=cfg.region,
    )
    http = httpx.Client(base_url=http_url, limits=httpx.Limits(max_connections=pool))

    def one(i: int) -> None:
        # get_or_compute as the original did it with redis-py: GET, else compute and SET.
        key = f"{prefix}item:{i}"
        if r.get(key) is None:
            r.set(key, json.dumps(_compute(i)()), ex=60)
        collection.find_one({"sku": f"sku-{i}"})
        response = s3.get_object(BUCKET, f"item-{i}")
        try:
            response.read()
        finally:
            response.close()
            response.release_conn()
        http.get(f"/item/{i}")

    def close() -> None:
        r.delete(*(f"{prefix}item:{i}" for i in range(KEYS)))
        r.close()
        mongo.close()
        http.close()

    return one, close


def timed(one: Callable[[int], None], i: int, latencies: list[float]) -> None:
    started = time.perf_counter()
    one(i)
    latencies.append(time.perf_counter() - started)


def run_variant(variant: str, requests: int, http_url: str) -> dict[str, Any]:
    """Run one variant in this process; return its figures."""
    if variant in ("asyncio", "trio"):
        import anyio  # noqa: PLC0415

        latencies, wall = anyio.run(ours, variant, requests, http_url, backend=variant)
    else:
        latencies = []
        one, close = sync_drivers(http_url, 1 if variant == "sequential" else THREADS)
        started = time.perf_counter()
        if variant == "sequential":
            for n in range(requests):
                timed(one, n % KEYS, latencies)
        else:
            lock = threading.Lock()
            with ThreadPoolExecutor(THREADS) as pool:

                def worker(first: int) -> None:
                    mine: list[float] = []
                    for n in range(first, requests, THREADS):
                        timed(one, n % KEYS, mine)
                    with lock:
                        latencies.extend(mine)

                list(pool.map(worker, range(THREADS)))
        wall = time.perf_counter() - started
        close()
    latencies.sort()
    rss_kib = _peak_rss_kib()
    return {
        "variant": variant,
        "requests": len(latencies),
        "throughput": len(latencies) / wall,
        "p50": _pct(latencies, 50),
        "p95": _pct(latencies, 95),
        "p99": _pct(latencies, 99),
        "rss_mib": rss_kib / 1024,
    }


def _peak_rss_kib() -> int:
    """This process's peak RSS. Not ``ru_maxrss`` where /proc has VmHWM: Linux carries
    ``ru_maxrss`` over ``execve``, so every variant would report at least the peak of the
    parent that started it (a child of a 310 MiB parent: ru_maxrss 310 MiB, VmHWM 9)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _pct(values: list[float], pct: int) -> float:
    return values[min(len(values) - 1, round(len(values) * pct / 100))] * 1000


# -- orchestration -------------------------------------------------------------------


def in_subprocess(variant: str, requests: int, http_url: str) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--variant",
            variant,
            "--requests",
            str(requests),
            "--url",
            http_url,
        ],
        check=False,
        capture_output=True,
        text=True,
        env=os.environ,
    )
    if out.returncode:
        raise RuntimeError(f"{variant} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("throughput", "p50", "p95", "p99", "rss_mib")
    return {"variant": runs[0]["variant"]} | {
        k: statistics.median(r[k] for r in runs) for k in keys
    }


def chart(rows: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    names = [v for v in VARIANTS if v in rows]
    labels = {
        "asyncio": "ours asyncio",
        "trio": "ours trio",
        "sequential": "(a) sync, one at a time",
        "threads": f"(b) sync, {THREADS} threads",
    }
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    colours = ["#2b7bba", "#5aa469", "#d9534f", "#f0ad4e"]
    axes[0].bar([labels[n] for n in names], [rows[n]["throughput"] for n in names], color=colours)
    axes[0].set_title("requests per second (higher is better)")
    width = 0.25
    for k, pct in enumerate(("p50", "p95", "p99")):
        axes[1].bar(
            [i + k * width for i in range(len(names))],
            [rows[n][pct] for n in names],
            width,
            label=pct,
        )
    axes[1].set_xticks([i + width for i in range(len(names))], [labels[n] for n in names])
    axes[1].axhline(100, color="grey", linestyle="--", linewidth=1, label="100 ms target")
    axes[1].set_title("latency, ms (lower is better)")
    axes[1].legend()
    axes[2].bar([labels[n] for n in names], [rows[n]["rss_mib"] for n in names], color=colours)
    axes[2].set_title("peak RSS, MiB (lower is better)")
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    fig.suptitle(
        f"{CONCURRENCY} concurrent requests: Redis get_or_compute + Mongo find_one"
        " + 4 KiB S3 get + HTTP GET"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--sequential-requests", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chart", type=Path, default=None)
    parser.add_argument("--variant", choices=VARIANTS)
    parser.add_argument("--url")
    parser.add_argument("--serve-http")
    parser.add_argument(
        "--parts", action="store_true", help="each part of a request alone (ours, asyncio)"
    )
    args = parser.parse_args()
    if args.serve_http:
        serve_http(args.serve_http)
        return
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.requests, args.url)))
        return
    seed()
    if args.parts:
        import anyio  # noqa: PLC0415

        with http_server(Path(os.environ.get("TMPDIR", "/tmp"))) as url:
            anyio.run(parts, args.requests, url)
        return
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    with http_server(Path(os.environ.get("TMPDIR", "/tmp"))) as url:
        for round_no in range(args.rounds):
            order = VARIANTS if round_no % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                n = args.sequential_requests if variant == "sequential" else args.requests
                runs[variant].append(in_subprocess(variant, n, url))
                print(
                    f"round {round_no + 1} {variant}: {runs[variant][-1]['throughput']:.0f} req/s",
                    file=sys.stderr,
                )
    rows = {v: median_of(r) for v, r in runs.items()}
    print(f"\n{CONCURRENCY} concurrent requests (median of {args.rounds} interleaved rounds)")
    print(f"{'variant':<12}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'peak RSS MiB':>14}")
    for v in VARIANTS:
        row = rows[v]
        print(
            f"{v:<12}{row['throughput']:>9.0f}{row['p50']:>9.1f}{row['p95']:>9.1f}"
            f"{row['p99']:>9.1f}{row['rss_mib']:>14.1f}"
        )
    seq, threads = rows["sequential"], rows["threads"]
    print(
        f"\n{'ours':<10}{'vs (a)':>9}{'vs (b)':>9}{'RSS vs (b)':>12}"
        "   targets: >=5x, >=1.5x, <=0.70, p95 < 100 ms"
    )
    for v in ("asyncio", "trio"):
        row = rows[v]
        print(
            f"{v:<10}{row['throughput'] / seq['throughput']:>8.2f}x"
            f"{row['throughput'] / threads['throughput']:>8.2f}x"
            f"{row['rss_mib'] / threads['rss_mib']:>12.2f}"
        )
    if args.chart is not None:
        chart(rows, args.chart)
        print(f"chart: {args.chart}")


if __name__ == "__main__":
    main()
