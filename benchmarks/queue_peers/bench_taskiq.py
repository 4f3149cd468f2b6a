"""One round for taskiq + taskiq-redis (its own venv): ``python bench_taskiq.py URL JOBS
SLEEP`` prints JSON.

taskiq has no burst mode: its receiver starts after the enqueueing, and the drain is
timed until every job has run (the jobs count themselves).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid

from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker

PAUSE = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
DONE = 0


async def run(url: str, jobs: int) -> dict[str, float]:
    broker = RedisStreamBroker(url, queue_name=f"bench-{uuid.uuid4().hex[:8]}", consumer_id="0")

    @broker.task
    async def job() -> None:
        global DONE  # noqa: PLW0603 -- the drain's counter
        if PAUSE:
            await asyncio.sleep(PAUSE)
        DONE += 1

    await broker.startup()
    limit = asyncio.Semaphore(32)

    async def one() -> None:
        async with limit:
            await job.kiq()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(jobs)))
    enqueued = time.perf_counter()
    broker.is_worker_process = True
    receiver = asyncio.create_task(run_receiver_task(broker, max_async_tasks=32, run_startup=True))
    while jobs > DONE:  # noqa: ASYNC110 -- the receiver signals nothing else
        await asyncio.sleep(0.01)
    drained = time.perf_counter()
    receiver.cancel()
    return {"enqueue": enqueued - start, "drain": drained - enqueued}


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    print(json.dumps(asyncio.run(run(sys.argv[1], int(sys.argv[2])))))
