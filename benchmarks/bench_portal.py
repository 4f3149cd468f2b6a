"""The cost of one no-op call through the sync face's portal, ours vs anyio's.

    python benchmarks/bench_portal.py [--rounds N]

For asyncio and trio it prints the median and p90 latency (µs) of ``portal.call(noop)``
from one thread, the CPU time the whole process spends per call (ours spins briefly
instead of sleeping), and calls/s with 16 threads sharing one portal. Our portal and
anyio's ``start_blocking_portal`` run in the same process, in alternating rounds, so both
see the same machine; the floor line is a bare cross-thread callback round trip.

On a small VM other processes move these numbers a lot: compare the two columns of one
run, and prefer a quiet machine (the load average is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

from anyio.from_thread import start_blocking_portal

from anyservices._core._portal import Backend, acquire_portal, release_portal

WARMUP = 3_000
CALLS_PER_ROUND = 4_000
THREADS = 16
CALLS_PER_THREAD = 1_000


async def noop() -> None:
    return None


def sample(call: Callable[[], object], count: int) -> tuple[list[int], float]:
    """Latencies (ns) of ``count`` calls, and the process CPU seconds they used."""
    samples: list[int] = []
    cpu = time.process_time()
    for _ in range(count):
        started = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - started)
    return samples, time.process_time() - cpu


def throughput(call: Callable[[], object]) -> float:
    barrier = threading.Barrier(THREADS + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(CALLS_PER_THREAD):
            call()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return CALLS_PER_THREAD * THREADS / (time.perf_counter() - started)


def callback_floor() -> float:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def round_trip() -> None:
        lock = threading.Lock()
        lock.acquire()
        loop.call_soon_threadsafe(lock.release)
        lock.acquire()

    sample(round_trip, WARMUP)
    samples, _ = sample(round_trip, CALLS_PER_ROUND)
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()
    return statistics.median(samples) / 1000


def compare(backend: Backend, rounds: int) -> None:
    with ExitStack() as stack:
        ours = acquire_portal(backend)
        stack.callback(release_portal, ours)
        theirs = stack.enter_context(start_blocking_portal(backend))
        calls = {
            "ours": functools.partial(ours.call, noop),
            "anyio": functools.partial(theirs.call, noop),
        }
        latencies: dict[str, list[int]] = {name: [] for name in calls}
        cpu: dict[str, float] = dict.fromkeys(calls, 0.0)
        for call in calls.values():
            sample(call, WARMUP)
        for _ in range(rounds):  # alternate, so that both see the same machine
            for name, call in calls.items():
                samples, used = sample(call, CALLS_PER_ROUND)
                latencies[name] += samples
                cpu[name] += used
        rates = {name: throughput(call) for name, call in calls.items()}

    for name in calls:
        samples = sorted(latencies[name])
        median = statistics.median(samples) / 1000
        p90 = samples[int(len(samples) * 0.9)] / 1000
        cpu_per_call = cpu[name] / len(samples) * 1e6
        print(
            f"{backend:8} {name:6} {median:10.1f} {p90:8.1f} {cpu_per_call:13.1f}"
            f" {rates[name]:19.0f}"
        )
    speedup = statistics.median(latencies["anyio"]) / statistics.median(latencies["ours"])
    rate_ratio = rates["ours"] / rates["anyio"]
    print(f"{backend:8} {'ratio':6} {speedup:9.2f}x {'':8} {'':13} {rate_ratio:18.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description="Portal.call latency, ours vs anyio.")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per backend")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"floor: bare cross-thread callback round trip {callback_floor():.1f} µs median")
    columns = ("median µs", 10), ("p90 µs", 8), ("CPU µs/call", 13), ("16 threads calls/s", 19)
    print(f"{'backend':8} {'portal':6}", *(f"{title:>{width}}" for title, width in columns))
    backends: list[Backend] = ["asyncio", "trio"]
    for backend in backends:
        compare(backend, args.rounds)


if __name__ == "__main__":
    main()
