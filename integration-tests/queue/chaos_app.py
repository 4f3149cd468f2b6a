"""The queue the chaos tests' worker processes run (``python -m anyservices worker
chaos_app:queue``), configured from ``ANYSERVICES_QUEUE_*``. Each run is logged in Redis."""

from __future__ import annotations

import anyio

from anyservices.queue import JobContext, QueueConfig, QueueService

queue = QueueService(QueueConfig.from_env())


@queue.task(name="chaos.sleep")
async def sleep(ctx: JobContext, payload: float) -> str:
    await queue.redis.execute_command("RPUSH", f"{queue.keys.prefix}test:runs", ctx.job_id)
    await anyio.sleep(payload)
    return ctx.job_id
