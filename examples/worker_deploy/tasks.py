"""The tasks the worker runs, and the queue they belong to.

Run a worker (from the repository root; ``ANYSERVICES_QUEUE_*`` configure the queue)::

    python -m anyservices worker examples.worker_deploy.tasks:queue --concurrency 8

Enqueue from any process: ``await queue.enqueue(make_thumbnail, Thumbnail(...))``.
"""

from __future__ import annotations

import anyio
from pydantic import BaseModel

from anyservices.queue import JobContext, QueueConfig, QueueService, Retry

queue = QueueService(QueueConfig.from_env())


class Thumbnail(BaseModel):
    url: str
    width: int
    #: How long the work takes here (a stand-in for fetching and resizing the image).
    seconds: float = 0.0


@queue.task(name="thumbnails.make", retry=Retry(attempts=3), timeout=60)
async def make_thumbnail(ctx: JobContext, job: Thumbnail) -> str:
    await ctx.progress(0.0, "resizing")
    await anyio.sleep(job.seconds)
    return f"{job.url}?width={job.width}"
