"""Never executed: pins the public types of QueueService, Task, JobHandle and the sync face."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, assert_type

from pydantic import BaseModel

from anyservices import blocking
from anyservices.queue import (
    JobContext,
    JobEvent,
    JobHandle,
    JobInfo,
    QueueConfig,
    QueueHealth,
    QueueService,
    SyncJobEvents,
    SyncJobHandle,
    SyncQueueService,
    Task,
    Worker,
    WorkerStatistics,
)


class Image(BaseModel):
    url: str


class Thumb(BaseModel):
    size: int


queue = QueueService(QueueConfig(name="media"))


@queue.task(name="media.resize")
async def resize(ctx: JobContext, payload: Image) -> Thumb:
    return Thumb(size=len(payload.url))


@queue.task(name="media.count")
def count(ctx: JobContext, payload: list[int]) -> int:
    return len(payload)


async def check_async() -> None:
    assert_type(resize, Task[Image, Thumb])
    assert_type(count, Task[list[int], int])
    handle = await queue.enqueue(resize, Image(url="a"))
    assert_type(handle, JobHandle[Thumb])
    assert_type(await handle.result(timeout=1), Thumb)
    assert_type(await handle.info(), JobInfo)
    assert_type(await handle.abort(), bool)
    assert_type(await resize.enqueue(Image(url="b"), delay=1.0), JobHandle[Thumb])
    assert_type(await queue.enqueue(count, [1, 2]), JobHandle[int])
    assert_type(
        await queue.enqueue("media.resize", {"url": "c"}, result_type=Thumb), JobHandle[Thumb]
    )
    assert_type(await queue.enqueue("media.resize", {"url": "c"}), JobHandle[Any])
    assert_type(queue.handle("id", Thumb), JobHandle[Thumb])
    await queue.enqueue(resize, 5)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    assert_type(await queue.health(), QueueHealth)
    async with queue.events() as events:
        async for event in events:
            assert_type(event, JobEvent)
    assert_type(await Worker(queue, [resize], concurrency=4).run(burst=True), WorkerStatistics)


def check_sync() -> None:
    with blocking(queue) as sync:
        assert_type(sync, SyncQueueService)
        handle = sync.enqueue(resize, Image(url="a"))
        assert_type(handle, SyncJobHandle[Thumb])
        assert_type(handle.result(timeout=1), Thumb)
        assert_type(sync.enqueue("media.count", [1], result_type=int), SyncJobHandle[int])
        assert_type(sync.handle("id", Thumb).result(), Thumb)
        sync.enqueue(resize, 5)  # type: ignore[misc]  # pyright: ignore[reportArgumentType, reportCallIssue]
        with sync.events() as events:
            assert_type(events, SyncJobEvents)
            assert_type(iter(events), Iterator[JobEvent])
