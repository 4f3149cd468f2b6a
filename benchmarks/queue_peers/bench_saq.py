"""One round for SAQ (its own venv): ``python bench_saq.py URL JOBS SLEEP`` prints JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid

from saq import Queue, Worker

PAUSE = 0.0


async def job(ctx: object) -> None:  # noqa: ARG001 -- the library passes its context
    if PAUSE:
        await asyncio.sleep(PAUSE)


async def run(url: str, jobs: int) -> dict[str, float]:
    queue = Queue.from_url(url, name=f"bench-{uuid.uuid4().hex[:8]}")
    await queue.connect()
    limit = asyncio.Semaphore(32)

    async def one() -> None:
        async with limit:
            await queue.enqueue("job")

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(jobs)))
    enqueued = time.perf_counter()
    worker = Worker(queue, functions=[job], concurrency=32, burst=True, dequeue_timeout=1)
    await worker.start()
    drained = time.perf_counter()
    await queue.disconnect()
    return {"enqueue": enqueued - start, "drain": drained - enqueued}


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    PAUSE = float(sys.argv[3])
    print(json.dumps(asyncio.run(run(sys.argv[1], int(sys.argv[2])))))
