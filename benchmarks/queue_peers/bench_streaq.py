"""One round for streaq (its own venv): ``python bench_streaq.py URL JOBS SLEEP`` prints JSON.

As streaq's own benchmark: the jobs go in with one ``enqueue_many``; a burst worker at
concurrency 32 drains them (``worker.burst``, what its ``--burst`` flag sets).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid

from streaq import Worker

PAUSE = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
DONE = 0


def make(url: str, name: str) -> tuple[Worker, object]:
    worker = Worker(redis_url=url, queue_name=name, concurrency=32, handle_signals=False)

    @worker.task
    async def job() -> None:
        global DONE  # noqa: PLW0603 -- the drain's check
        if PAUSE:
            await asyncio.sleep(PAUSE)
        DONE += 1

    return worker, job


async def run(url: str, jobs: int) -> dict[str, float]:
    worker, job = make(url, f"bench-{uuid.uuid4().hex[:8]}")
    async with worker:
        start = time.perf_counter()
        await worker.enqueue_many([job.enqueue() for _ in range(jobs)])  # type: ignore[attr-defined]
        enqueued = time.perf_counter()
    worker.burst = True
    await worker.run_async()
    drained = time.perf_counter()
    assert jobs == DONE, f"{DONE} of {jobs} jobs ran"
    return {"enqueue": enqueued - start, "drain": drained - enqueued}


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    print(json.dumps(asyncio.run(run(sys.argv[1], int(sys.argv[2])))))
