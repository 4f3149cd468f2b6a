"""One round for arq (its own venv): ``python bench_arq.py URL JOBS SLEEP`` prints JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

PAUSE = 0.0


async def job(ctx: object) -> None:  # noqa: ARG001 -- the library passes its context
    if PAUSE:
        await asyncio.sleep(PAUSE)


async def run(url: str, jobs: int) -> dict[str, float]:
    settings = RedisSettings.from_dsn(url)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    redis = await create_pool(settings, default_queue_name=name)
    limit = asyncio.Semaphore(32)

    async def one() -> None:
        async with limit:
            await redis.enqueue_job("job")

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(jobs)))
    enqueued = time.perf_counter()
    worker = Worker(functions=[job], redis_settings=settings, queue_name=name, burst=True,
                    max_jobs=32, keep_result=0)  # fmt: skip
    await worker.async_run()
    drained = time.perf_counter()
    await worker.close()
    await redis.aclose()
    return {"enqueue": enqueued - start, "drain": drained - enqueued}


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    PAUSE = float(sys.argv[3])
    print(json.dumps(asyncio.run(run(sys.argv[1], int(sys.argv[2])))))
