"""Delayed jobs: how late do they start? N jobs with random delays under D seconds,
W worker processes; prints the lateness percentiles as JSON (and fails if a job
started early or twice).

    python delayed_ours.py URL [JOBS] [MAX_DELAY] [WORKERS] [BACKEND]

Run by ``../bench_queue.py --delayed JOBS``; the issue's figure is 10,000 jobs under
10 s: ``python benchmarks/queue_peers/delayed_ours.py redis://127.0.0.1:6390/0 10000 10 2``.
Lateness is ``started_at - (enqueued_at + delay)``, both read from the server's clock.
"""

from __future__ import annotations

import json
import random
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
    async def job(ctx: JobContext, payload: int) -> int:  # noqa: ARG001 -- a no-op job
        return payload

    return queue


def work(url: str, name: str, backend: str) -> None:
    """One worker process: runs until SIGTERM."""
    queue = make_queue(url, name)

    async def run() -> None:
        async with queue:
            await Worker(queue, concurrency=32).run()

    anyio.run(run, backend=backend)


def measure(  # noqa: C901 -- one scenario, read top to bottom
    url: str, jobs: int, max_delay: float, workers: int, backend: str
) -> dict[str, float]:
    name = f"delayed-{uuid.uuid4().hex[:8]}"
    procs = [
        subprocess.Popen([sys.executable, __file__, "--work", url, name, backend])
        for _ in range(workers)
    ]
    queue = make_queue(url, name)
    delays = [random.uniform(0, max_delay) for _ in range(jobs)]

    async def run() -> dict[str, float]:  # noqa: C901 -- the scenario, top to bottom
        async with queue:
            with anyio.fail_after(30):
                while (await queue.health()).live_workers < workers:  # noqa: ASYNC110 -- polls Redis
                    await anyio.sleep(0.05)
            limit = anyio.Semaphore(32)
            ids: list[str] = [""] * jobs
            numbers = iter(range(jobs))

            async def enqueuer() -> None:  # 32 of them: 32 enqueues in flight
                for i in numbers:
                    ids[i] = (await queue.enqueue("job", i, delay=delays[i])).id

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(32):
                    tg.start_soon(enqueuer)
            enqueue_seconds = time.perf_counter() - start
            with anyio.fail_after(max_delay + 60):
                while True:
                    health = await queue.health()
                    if health.delayed + health.waiting + health.running == 0:
                        break
                    await anyio.sleep(0.2)
            lateness: list[float] = []
            bad = 0

            async def check(i: int) -> None:
                nonlocal bad
                async with limit:
                    fields = await queue.redis.execute_command("HGETALL", queue.keys.job(ids[i]))
                due = int(fields["enqueued_at"]) + max(1, int(-(-delays[i] * 1000 // 1)))
                late = (int(fields["started_at"]) - due) / 1000
                if late < 0 or fields["deliveries"] != "1" or fields["state"] != "succeeded":
                    bad += 1
                lateness.append(late)

            async with anyio.create_task_group() as tg:
                for i in range(jobs):
                    tg.start_soon(check, i)
            await anyio.to_thread.run_sync(stop)  # before their streams go
            keys = await queue.redis.execute_command("KEYS", f"{queue.keys.prefix}*")
            if keys:
                await queue.redis.execute_command("UNLINK", *keys)
            lateness.sort()
            return {
                "jobs": jobs,
                "bad": bad,
                "enqueue_seconds": round(enqueue_seconds, 3),
                "p50_ms": round(lateness[len(lateness) // 2] * 1000, 1),
                "p99_ms": round(lateness[int(len(lateness) * 0.99)] * 1000, 1),
                "max_ms": round(lateness[-1] * 1000, 1),
            }

    def stop() -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)

    try:
        return anyio.run(run, backend=backend)
    finally:
        stop()


def main() -> None:
    if sys.argv[1] == "--work":
        work(*sys.argv[2:5])
        return
    url = sys.argv[1]
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    max_delay = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    backend = sys.argv[5] if len(sys.argv) > 5 else "asyncio"
    result = measure(url, jobs, max_delay, workers, backend)
    print(json.dumps(result))
    if result["bad"]:
        raise SystemExit(f"{result['bad']} jobs started early, twice or not at all")


if __name__ == "__main__":
    main()
