"""The cost of one no-op call through the sync face's portal, ours vs anyio's.

    python benchmarks/bench_portal.py

Prints median and p90 latency (µs) on asyncio and trio, plus calls/s with 16 threads
sharing one portal, and for scale the floor of this machine: a bare cross-thread
callback round trip, which no portal living on another thread can beat.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import threading
import time
from collections.abc import Callable

from anyio.from_thread import start_blocking_portal

from anyservices._core._portal import Backend, acquire_portal, release_portal

CALLS = 20_000
THREADS = 16


async def noop() -> None:
    return None


def latency(call: Callable[[], object]) -> tuple[float, float]:
    for _ in range(2_000):
        call()
    samples: list[int] = []
    for _ in range(CALLS):
        started = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - started)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.9)] / 1000


def throughput(call: Callable[[], object]) -> float:
    per_thread = CALLS // THREADS

    def worker() -> None:
        for _ in range(per_thread):
            call()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_thread * THREADS / (time.perf_counter() - started)


def callback_floor() -> float:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def round_trip() -> None:
        lock = threading.Lock()
        lock.acquire()
        loop.call_soon_threadsafe(lock.release)
        lock.acquire()

    median, _ = latency(round_trip)
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    return median


def main() -> None:
    print(f"floor: bare cross-thread callback round trip {callback_floor():.1f} µs median")
    print(f"{'backend':8} {'portal':10} {'median µs':>10} {'p90 µs':>8} {'16 threads calls/s':>19}")
    backends: list[Backend] = ["asyncio", "trio"]
    for backend in backends:
        portal = acquire_portal(backend)
        try:
            call = functools.partial(portal.call, noop)
            ours = latency(call)
            ours_tp = throughput(call)
        finally:
            release_portal(portal)
        with start_blocking_portal(backend) as theirs_portal:
            their_call = functools.partial(theirs_portal.call, noop)
            theirs = latency(their_call)
            theirs_tp = throughput(their_call)
        print(f"{backend:8} {'ours':10} {ours[0]:10.1f} {ours[1]:8.1f} {ours_tp:19.0f}")
        print(f"{backend:8} {'anyio':10} {theirs[0]:10.1f} {theirs[1]:8.1f} {theirs_tp:19.0f}")
        speedup = theirs[0] / ours[0]
        print(f"{backend:8} {'ratio':10} {speedup:9.2f}x {'':8} {ours_tp / theirs_tp:18.2f}x")


if __name__ == "__main__":
    main()
