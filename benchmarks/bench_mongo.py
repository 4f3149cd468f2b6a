"""find_one by _id and insert_one: MongoService against PyMongo, same server, same run.

    python benchmarks/bench_mongo.py [--seconds 1.0]

Rows: ours on asyncio, trio and the sync face; PyMongo's AsyncMongoClient (asyncio) and
its sync MongoClient (threads), at concurrency 1 and 32. The local server (SecantusDB)
is slow, so throughput mostly measures it: the client-side CPU per operation
(``time.process_time`` of this process / operations; the server is another process)
says what the client costs. Uses ANYSERVICES_MONGO_URL (the local devserver by default).
Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pymongo
from bson import ObjectId
from pydantic import SecretStr
from pymongo import AsyncMongoClient, MongoClient

from anyservices import blocking
from anyservices._core._threads import ThreadRunner
from anyservices.mongo import MongoConfig, MongoService

URL = os.environ.get("ANYSERVICES_MONGO_URL", "mongodb://127.0.0.1:27030/?directConnection=true")
DATABASE = "anyservices_bench"
READS = "reads"
WRITES = "writes"
SEED = 1000
CONCURRENCY = (1, 32)

Result = tuple[float, float]  # ops/s, client CPU microseconds per op


async def run_async(
    op: Callable[[], Awaitable[object]], concurrency: int, seconds: float
) -> Result:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await op()
            done += 1

    cpu, started = time.process_time(), time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return done / wall, cpu / done * 1e6


def run_threads(op: Callable[[], object], threads: int, seconds: float) -> Result:
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def worker(n: int) -> None:
        while time.perf_counter() < deadline:
            op()
            counts[n] += 1

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    cpu, started = time.process_time(), time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    done = sum(counts)
    return done / wall, cpu / done * 1e6


_COUNTER = iter(range(1_000_000))


def fresh_collection() -> str:
    """An empty collection per insert cell: the server slows as a collection grows."""
    return f"{WRITES}_{next(_COUNTER)}"


def drop_database() -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(URL)
    try:
        client.drop_database(DATABASE)
    finally:
        client.close()


def seed() -> list[ObjectId]:
    client: MongoClient[dict[str, Any]] = MongoClient(URL)
    try:
        db = client[DATABASE]
        client.drop_database(DATABASE)
        ids = db[READS].insert_many([{"n": n, "pad": "x" * 64} for n in range(SEED)]).inserted_ids
        return list(ids)
    finally:
        client.close()


def config() -> MongoConfig:
    return MongoConfig(url=SecretStr(URL), database=DATABASE, max_pool_size=32)


def query(ids: list[ObjectId]) -> dict[str, Any]:
    return {"_id": random.choice(ids)}


async def ours_async(op: str, c: int, seconds: float, ids: list[ObjectId]) -> Result:
    target = fresh_collection()
    async with MongoService(config()) as mongo:
        if op == "find_one":
            return await run_async(lambda: mongo.find_one(READS, query(ids)), c, seconds)
        return await run_async(lambda: mongo.insert_one(target, {"v": 1}), c, seconds)


def ours_sync(op: str, c: int, seconds: float, ids: list[ObjectId]) -> Result:
    target = fresh_collection()
    results: list[Result] = []  # `with` may swallow, as far as type checkers know
    with blocking(MongoService(config())) as mongo:
        if op == "find_one":
            results.append(run_threads(lambda: mongo.find_one(READS, query(ids)), c, seconds))
        else:
            results.append(run_threads(lambda: mongo.insert_one(target, {"v": 1}), c, seconds))
    return results[0]


async def pymongo_async(op: str, c: int, seconds: float, ids: list[ObjectId]) -> Result:
    target = fresh_collection()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(URL, maxPoolSize=32)
    try:
        db = client[DATABASE]
        await db.command("ping")
        if op == "find_one":
            return await run_async(lambda: db[READS].find_one(query(ids)), c, seconds)
        return await run_async(lambda: db[target].insert_one({"v": 1}), c, seconds)
    finally:
        await client.close()


def pymongo_sync(op: str, c: int, seconds: float, ids: list[ObjectId]) -> Result:
    target = fresh_collection()
    client: MongoClient[dict[str, Any]] = MongoClient(URL, maxPoolSize=32)
    try:
        db = client[DATABASE]
        db.command("ping")
        if op == "find_one":
            return run_threads(lambda: db[READS].find_one(query(ids)), c, seconds)
        return run_threads(lambda: db[target].insert_one({"v": 1}), c, seconds)
    finally:
        client.close()


def _noop() -> None:
    return None


async def thread_hop(hops: int) -> Result:
    """What one driver call pays for its thread hop alone (no server): wall and CPU per hop."""
    runner = ThreadRunner(32, name="bench")
    cpu, started = time.process_time(), time.perf_counter()
    for _ in range(hops):
        await runner.run(_noop)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall / hops * 1e6, cpu / hops * 1e6


Cell = Callable[[str, int, float, list[ObjectId]], Result]


def _pymongo_async(op: str, c: int, seconds: float, ids: list[ObjectId]) -> Result:
    return anyio.run(pymongo_async, op, c, seconds, ids)


def _ours_asyncio(op: str, c: int, seconds: float, ids: list[ObjectId]) -> Result:
    return anyio.run(ours_async, op, c, seconds, ids, backend="asyncio")


def _ours_trio(op: str, c: int, seconds: float, ids: list[ObjectId]) -> Result:
    return anyio.run(ours_async, op, c, seconds, ids, backend="trio")


CLIENTS: dict[str, Cell] = {
    "PyMongo AsyncMongoClient (asyncio)": _pymongo_async,
    "PyMongo MongoClient (threads)": pymongo_sync,
    "ours, asyncio": _ours_asyncio,
    "ours, trio": _ours_trio,
    "ours, sync face (threads)": ours_sync,
}
REF_ASYNC, REF_SYNC, OURS = (
    "PyMongo AsyncMongoClient (asyncio)",
    "PyMongo MongoClient (threads)",
    "ours, asyncio",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=1.0, help="per cell (default 1.0)")
    parser.add_argument("--rounds", type=int, default=2, help="best of N, interleaved")
    options = parser.parse_args()
    for backend in ("asyncio", "trio"):
        wall, cpu = anyio.run(thread_hop, 3000, backend=backend)
        print(f"thread hop alone on {backend:7}: {wall:6.1f} us wall, {cpu:6.1f} us CPU per call")
    ids = seed()
    best: dict[tuple[str, str, int], Result] = {}
    try:
        for _ in range(options.rounds):  # interleaved, so that server drift hits every client
            for op in ("find_one", "insert_one"):
                for c in CONCURRENCY:
                    for name, cell in CLIENTS.items():
                        rate, cpu = cell(op, c, options.seconds, ids)
                        old = best.get((name, op, c))
                        best[name, op, c] = (
                            max(rate, old[0]) if old else rate,
                            min(cpu, old[1]) if old else cpu,
                        )
    finally:
        drop_database()
    print(
        f"pymongo {pymongo.version}, {URL}, best of {options.rounds} x {options.seconds}s per cell"
    )
    header = (
        f"{'client':36} {'op':10} {'c':>3} {'ops/s':>8} {'CPU us/op':>10} "
        f"{'vs async':>9} {'vs sync':>8} {'vs ours-asyncio':>16}"
    )
    print(header)
    print("-" * len(header))
    for op in ("find_one", "insert_one"):
        for c in CONCURRENCY:
            for name in CLIENTS:
                rate, cpu = best[name, op, c]
                print(
                    f"{name:36} {op:10} {c:>3} {rate:8.0f} {cpu:10.0f} "
                    f"{rate / best[REF_ASYNC, op, c][0]:8.2f}x "
                    f"{rate / best[REF_SYNC, op, c][0]:7.2f}x "
                    f"{rate / best[OURS, op, c][0]:15.2f}x"
                )


if __name__ == "__main__":
    main()
