"""Enqueue-to-start latency on an idle worker: one job at a time, from just before
``enqueue`` to the first line of the task (another process, the same host clock).

    python latency_ours.py URL [JOBS] [BACKEND]

Prints the percentiles (ms) as JSON. Run by ``../bench_queue.py --latency JOBS``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid

import anyio
import anyio.to_thread
from pydantic import SecretStr

from anyservices.queue import JobContext, QueueConfig, QueueService, Worker
from anyservices.redis import RedisConfig


def make_queue(url: str, name: str) -> QueueService:
    queue = QueueService(QueueConfig(name=name, redis=RedisConfig(url=SecretStr(url))))

    @queue.task(name="job")
    async def job(ctx: JobContext, payload: int) -> float:  # noqa: ARG001 -- the clock only
        return time.time()

    return queue


def work(url: str, name: str, backend: str) -> None:
    """The worker process: runs until SIGTERM."""
    queue = make_queue(url, name)

    async def run() -> None:
        async with queue:
            await Worker(queue, concurrency=32).run()

    anyio.run(run, backend=backend)


def measure(url: str, jobs: int, backend: str) -> dict[str, float]:
    name = f"latency-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen([sys.executable, __file__, "--work", url, name, backend])
    queue = make_queue(url, name)

    async def run() -> dict[str, float]:
        async with queue:
            with anyio.fail_after(30):
                while (await queue.health()).live_workers < 1:  # noqa: ASYNC110 -- polls Redis
                    await anyio.sleep(0.05)
            await anyio.sleep(0.5)  # the worker is blocked in its read now
            latencies: list[float] = []
            for i in range(jobs):
                before = time.time()
                handle = await queue.enqueue("job", i, result_type=float)
                latencies.append(await handle.result(timeout=10) - before)
                await anyio.sleep(0.01)  # idle again
            await anyio.to_thread.run_sync(stop)  # before its streams go
            keys = await queue.redis.execute_command("KEYS", f"{queue.keys.prefix}*")
            if keys:
                await queue.redis.execute_command("UNLINK", *keys)
        latencies.sort()
        return {
            "jobs": jobs,
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
            "max_ms": round(latencies[-1] * 1000, 2),
        }

    def stop() -> None:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        worker.wait(30)

    try:
        return anyio.run(run, backend=backend)
    finally:
        stop()


def main() -> None:
    if sys.argv[1] == "--work":
        work(*sys.argv[2:5])
        return
    url = sys.argv[1]
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    backend = sys.argv[3] if len(sys.argv) > 3 else "asyncio"
    print(json.dumps(measure(url, jobs, backend)))


if __name__ == "__main__":
    main()
