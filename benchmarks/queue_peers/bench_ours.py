"""One round for anyservices.queue: enqueue N jobs (32 at a time), then one worker drains them.

The 32 enqueues in flight come from 32 tasks that enqueue one job after the other (the
peers' scripts start a task per job under a semaphore of 32: with anyio's task groups
that costs the benchmark more than the enqueues it measures).

Run by ../bench_queue.py: ``python bench_ours.py URL JOBS SLEEP BACKEND`` prints JSON.
"""

from __future__ import annotations

import json
import sys
import time
import uuid

import anyio
from pydantic import SecretStr

from anyservices.queue import JobContext, QueueConfig, QueueService, Worker
from anyservices.redis import RedisConfig


def main() -> None:
    url, jobs, pause, backend = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    config = QueueConfig(
        name=f"bench-{uuid.uuid4().hex[:8]}", redis=RedisConfig(url=SecretStr(url))
    )
    queue = QueueService(config)

    @queue.task(name="job")
    async def job(ctx: JobContext, payload: int) -> None:  # noqa: ARG001 -- a no-op job
        if pause:
            await anyio.sleep(pause)

    async def run() -> dict[str, float]:
        async with queue:
            numbers = iter(range(jobs))

            async def enqueuer() -> None:  # 32 of them: 32 enqueues in flight, as the peers'
                for i in numbers:
                    await queue.enqueue(job, i)

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(32):
                    tg.start_soon(enqueuer)
            enqueued = time.perf_counter()
            stats = await Worker(queue, concurrency=32, handle_signals=False).run(burst=True)
            drained = time.perf_counter()
            assert stats.succeeded == jobs, stats
            keys = await queue.redis.execute_command("KEYS", f"{queue.keys.prefix}*")
            if keys:
                await queue.redis.execute_command("UNLINK", *keys)
            return {"enqueue": enqueued - start, "drain": drained - enqueued}

    print(json.dumps(anyio.run(run, backend=backend)))


if __name__ == "__main__":
    main()
