"""The bare thread hop: ``await runner.run(noop)`` against ``anyio.to_thread.run_sync``.

    python benchmarks/bench_threads.py [--hops 2000] [--rounds 5]

Per backend (asyncio, trio) and per way of hopping: wall and CPU (``time.process_time``)
microseconds per call, median of interleaved rounds (the machine is noisy: compare
ratios within one run). ``floor`` is the least a hop can do with the backend's own
thread-safe wake-up: a long-lived thread fed by a ``SimpleQueue`` (one wake-up each
way), so ``ThreadRunner`` minus ``floor`` is what the runner could still save.
Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import functools
import queue
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import sniffio

from anyservices._core._threads import ThreadRunner


def _noop() -> None:
    return None


_Job = tuple[Callable[[], object], Callable[[object], object]]


class _Floor:
    """One long-lived thread, a SimpleQueue in, the backend's thread-safe callback out."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            func, done = job
            done(func())

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    async def run(self, func: Callable[[], object]) -> object:
        if sniffio.current_async_library() == "trio":
            import outcome  # noqa: PLC0415 -- only on trio
            import trio  # noqa: PLC0415 -- only on trio

            task = trio.lowlevel.current_task()
            token = trio.lowlevel.current_trio_token()

            def wake(value: object) -> None:
                token.run_sync_soon(trio.lowlevel.reschedule, task, outcome.Value(value))

            self._jobs.put((func, wake))
            return await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)
        import asyncio  # noqa: PLC0415 -- only on asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        self._jobs.put((func, functools.partial(loop.call_soon_threadsafe, future.set_result)))
        return await future


async def measure(hop: Callable[[], Awaitable[Any]], hops: int) -> tuple[float, float]:
    cpu, started = time.process_time(), time.perf_counter()
    for _ in range(hops):
        await hop()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall / hops * 1e6, cpu / hops * 1e6


async def one_round(hops: int) -> dict[str, tuple[float, float]]:
    runner = ThreadRunner(32, name="bench")
    limiter = anyio.CapacityLimiter(32)
    floor = _Floor()
    try:
        ways: dict[str, Callable[[], Awaitable[Any]]] = {
            "ThreadRunner.run": lambda: runner.run(_noop),
            "anyio.to_thread.run_sync": lambda: anyio.to_thread.run_sync(_noop, limiter=limiter),
            "floor (SimpleQueue + wake)": lambda: floor.run(_noop),
        }
        return {name: await measure(hop, hops) for name, hop in ways.items()}
    finally:
        floor.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hops", type=int, default=2000, help="per way and round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved; medians reported")
    options = parser.parse_args()
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(options.rounds):
        for backend in ("asyncio", "trio"):
            for name, value in anyio.run(one_round, options.hops, backend=backend).items():
                samples.setdefault((backend, name), []).append(value)
    print(f"{options.hops} hops x {options.rounds} rounds, medians (us per call)")
    print(f"{'backend':8} {'way':28} {'wall':>8} {'CPU':>8} {'CPU vs to_thread':>17}")
    for (backend, name), values in samples.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        base = statistics.median(v[1] for v in samples[backend, "anyio.to_thread.run_sync"])
        print(f"{backend:8} {name:28} {wall:8.1f} {cpu:8.1f} {cpu / base:16.2f}x")


if __name__ == "__main__":
    main()
