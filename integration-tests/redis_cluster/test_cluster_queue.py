"""The job queue on the local Redis Cluster: its keys share one hash tag, so it just works."""

from __future__ import annotations

import uuid
from typing import cast

import anyio
import pytest

from anyservices.queue import JobContext, QueueConfig, QueueService, Task, Worker
from anyservices.redis import RedisConfig
from anyservices.testing import AsyncView, Face, open_face

pytestmark = pytest.mark.timeout(60)


async def test_jobs_run_on_a_cluster(face: Face, redis_cluster_env: dict[str, str]) -> None:
    redis = RedisConfig(
        mode="cluster",
        cluster_nodes=redis_cluster_env["ANYSERVICES_REDIS_CLUSTER_NODES"],  # pyright: ignore[reportArgumentType]
        namespace=f"test-{uuid.uuid4().hex[:12]}",
    )
    config = QueueConfig(name=f"q{uuid.uuid4().hex[:8]}", redis=redis, lease_seconds=2)

    def define(queue: QueueService) -> Task[int, int]:
        if isinstance(queue, AsyncView):  # the sync face registers its own SyncTask
            queue = cast("QueueService", queue.sync_face)

        @queue.task(name="double")
        async def double(ctx: JobContext, payload: int) -> int:
            return payload * 2

        return double

    async with QueueService(config) as server, anyio.create_task_group() as group:
        define(server)
        worker = Worker(server, handle_signals=False)
        group.start_soon(worker.run)
        try:
            async with open_face(face, QueueService(config)) as queue:
                task = define(queue)
                handles = [await queue.enqueue(task, n) for n in range(10)]
                results = [await handle.result(timeout=20) for handle in handles]
                assert results == [n * 2 for n in range(10)]
        finally:
            worker.stop()
