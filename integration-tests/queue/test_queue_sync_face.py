"""The sync face: tasks enqueue themselves on every face; plain threads enqueue, wait
for results and iterate events through ``blocking(queue)`` at once."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread
import pytest
from queue_support import Calls, Image, Resized, as_async, cleanup, define, make_config, worker_for

from anyservices import blocking
from anyservices.queue import JobState, QueueConfig, QueueService, SyncJobHandle, SyncTask
from anyservices.redis import RedisConfig
from anyservices.testing import Face, open_face

THREADS, JOBS_PER_THREAD = 4, 5


@pytest.fixture
async def config(redis_config: RedisConfig) -> AsyncIterator[QueueConfig]:
    cfg = make_config(redis_config, lease_seconds=2)
    yield cfg
    await cleanup(cfg)


async def test_a_task_enqueues_itself(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue, worker_for(config, Calls()):
        tasks = define(queue)
        resize = as_async(tasks.resize)
        assert resize.name == "resize"
        handle = await resize.enqueue(Image(url="t.png", width=8), priority=1, job_id="own-id")
        assert handle.id == "own-id"
        assert await handle.result(timeout=10) == Resized(url="t.png", width=4, thread="loop")
        info = await handle.info()
        assert (info.state, info.priority) == (JobState.SUCCEEDED, 1)
        assert await handle.abort() is False  # finished already
        assert await queue.abort(handle.id) is False
        queue.register(tasks.resize if face != "sync" else tasks.resize._wrapped)  # type: ignore[attr-defined]  # again: a no-op


@pytest.mark.faces("asyncio")
async def test_plain_threads_enqueue_wait_and_follow_events(config: QueueConfig) -> None:
    def client() -> tuple[set[str], set[str], list[str]]:
        with blocking(QueueService(config)) as queue:
            tasks = define(queue)  # type: ignore[arg-type]  # the face registers SyncTasks
            echo: SyncTask[str, str] = tasks.echo  # type: ignore[assignment]
            assert isinstance(echo, SyncTask)
            seen: set[str] = set()
            listening = threading.Event()

            def follow(expected: int) -> None:
                with queue.events() as events:
                    listening.set()
                    for event in events:
                        if event.state is JobState.SUCCEEDED:
                            seen.add(event.job_id)
                            if len(seen) == expected:
                                return

            def work(n: int) -> list[tuple[str, str]]:
                handles: list[SyncJobHandle[str]] = []
                for i in range(JOBS_PER_THREAD):
                    payload = f"{n}-{i}"
                    handle = echo.enqueue(payload) if i % 2 else queue.enqueue(echo, payload)
                    handles.append(handle)
                return [(handle.id, handle.result(timeout=20)) for handle in handles]

            with ThreadPoolExecutor(THREADS + 1) as pool:
                follower = pool.submit(follow, THREADS * JOBS_PER_THREAD)
                assert listening.wait(10)
                results = [pool.submit(work, n) for n in range(THREADS)]
                done = [pair for future in results for pair in future.result(timeout=30)]
                follower.result(timeout=30)
            return seen, {job_id for job_id, _ in done}, [value for _, value in done]

    async with worker_for(config, Calls(), concurrency=8):
        seen, ids, values = await anyio.to_thread.run_sync(client)
    assert seen == ids
    assert len(ids) == THREADS * JOBS_PER_THREAD
    expected = {f"{n}-{i}" for n in range(THREADS) for i in range(JOBS_PER_THREAD)}
    assert sorted(values) == sorted(expected)
