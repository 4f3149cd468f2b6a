"""Enqueues made together go in one script call, each with its own outcome (every face)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from queue_support import cleanup, define, free_port, make_config, start_redis, until_up, wait_for

from anyservices.queue import JobNotFoundError, JobState, QueueConfig, QueueError, QueueService
from anyservices.queue._service import _Sending
from anyservices.redis import RedisConfig, RedisError, RedisResponseError
from anyservices.testing import Face, open_face


@pytest.fixture
async def config(redis_config: RedisConfig) -> AsyncIterator[QueueConfig]:
    cfg = make_config(redis_config)
    yield cfg
    await cleanup(cfg)


async def test_concurrent_enqueues_each_get_their_own_outcome(
    face: Face, config: QueueConfig
) -> None:
    """Created, deduplicated, and one whose key holds a string (it alone fails)."""
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        blocked = QueueService(config).keys.job("in-the-way")
        async with QueueService(config) as raw:
            await raw.redis.execute_command("SET", blocked, "not a hash")
        handles: dict[int, str] = {}
        failures: list[BaseException] = []

        async def one(i: int) -> None:
            job_id = "in-the-way" if i == 0 else ("twice" if i < 3 else None)
            try:
                handles[i] = (await queue.enqueue(tasks.echo, str(i), job_id=job_id)).id
            except RedisResponseError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
        assert len(failures) == 1
        assert "WRONGTYPE" in str(failures[0])
        assert sorted(handles) == list(range(1, 20))
        assert handles[1] == handles[2] == "twice"
        assert len(set(handles.values())) == 18
        assert (await queue.handle("twice").info()).state is JobState.QUEUED
        assert queue.statistics().enqueued == 18
        assert queue.statistics().deduplicated == 1


async def test_enqueues_made_together_share_one_call(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue, QueueService(config) as raw:
        define(queue)
        await raw.enqueue("echo", "warm")  # the script is loaded
        before = raw.redis.statistics().commands_sent
        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(raw.enqueue, "echo", str(i))
        assert raw.redis.statistics().commands_sent - before < 10
        assert (await queue.health()).waiting == 51


async def test_an_enqueue_cancelled_before_its_call_is_never_sent(
    face: Face, config: QueueConfig
) -> None:
    async with open_face(face, QueueService(config)) as queue, QueueService(config) as raw:
        define(queue)
        raw._sending = batch = _Sending()  # its sender has not run yet
        with anyio.CancelScope() as scope:
            scope.cancel()
            await raw.enqueue("echo", "never", job_id="withdrawn")
        assert scope.cancelled_caught
        await raw._flush(batch)  # the sender runs: the call goes without it
        assert batch.replies == [[]]
        with pytest.raises(JobNotFoundError):
            await queue.info("withdrawn")
        assert (await queue.health()).waiting == 0
        raw._sending = gone = _Sending()
        gone.sent = True  # its call is on the wire: a job in it stays in it
        with anyio.CancelScope() as scope:
            scope.cancel()
            await raw.enqueue("echo", "kept", job_id="kept")
        assert gone.keys == [raw.keys.job("kept")]
        raw._sending = None


async def test_enqueues_waiting_when_the_queue_closes_fail(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue, QueueService(config) as raw:
        define(queue)
        raw._sending = batch = _Sending()  # as if its sender had not run yet
        failures: list[QueueError] = []

        async def enqueue() -> None:
            try:
                await raw.enqueue("echo", "late")
            except QueueError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(enqueue)
            await wait_for(lambda: batch.keys)
            raw._drop_sending()  # what closing the queue does after its task group ended
        assert batch.done.is_set()
        assert "closed before the job was sent" in str(failures[0])
        assert (await queue.health()).waiting == 0


async def test_an_enqueue_reports_a_lost_server(face: Face, tmp_path: Path) -> None:
    port = free_port()
    server = start_redis(port, tmp_path, durable=False)
    try:
        config = make_config(RedisConfig(port=port))
        await until_up(config)
        async with open_face(face, QueueService(config)) as queue:
            tasks = define(queue)
            await queue.enqueue(tasks.echo, "before")
            server.kill()
            await anyio.to_thread.run_sync(server.wait)
            with pytest.raises(RedisError):
                await queue.enqueue(tasks.echo, "after")
    finally:
        server.kill()
        server.wait(10)
