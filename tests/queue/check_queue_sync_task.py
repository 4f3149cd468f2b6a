"""Never executed: pins the types of periodic schedules and the sync face's tasks."""

from __future__ import annotations

from typing import assert_type

from anyservices import blocking
from anyservices.queue import (
    JobContext,
    Periodic,
    QueueConfig,
    QueueService,
    SyncJobHandle,
    SyncTask,
    SyncTaskDecorator,
)

queue = QueueService(QueueConfig(name="media"))


@queue.task(name="media.count")
async def count(ctx: JobContext, payload: list[int]) -> int:
    return len(payload)


def check() -> None:
    assert_type(queue.periodic(count, [1], every=5), Periodic[list[int]])
    queue.periodic(count, "x", cron="* * * * *")  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    with blocking(queue) as sync:
        assert_type(sync.task(name="media.size"), SyncTaskDecorator)

        @sync.task(name="media.size")
        def size(ctx: JobContext, payload: str) -> int:
            return len(payload)

        assert_type(size, SyncTask[str, int])
        assert_type(size.enqueue("abc", delay=1.0), SyncJobHandle[int])
        assert_type(sync.enqueue(size, "abc"), SyncJobHandle[int])
        assert_type(sync.enqueue(count, [1]).result(), int)
        assert_type(sync.periodic(size, "abc", every=1), Periodic[str])
        size.enqueue(5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
