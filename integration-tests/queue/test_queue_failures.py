"""Failure modes on every face: abort, dead letters, dead workers, fencing, shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from queue_support import Calls, cleanup, define, make_config, wait_for, worker_for

from anyservices import ServiceClosedError
from anyservices.queue import (
    JobAbortedError,
    JobFailedError,
    JobState,
    QueueConfig,
    QueueDataError,
    QueueError,
    QueueService,
    Worker,
)
from anyservices.redis import RedisConfig, RedisResponseError, RedisService
from anyservices.testing import Face, open_face


@pytest.fixture
async def config(redis_config: RedisConfig) -> AsyncIterator[QueueConfig]:
    cfg = make_config(redis_config, lease_seconds=0.6, max_deliveries=2)
    yield cfg
    await cleanup(cfg)


async def test_abort_queued_and_delayed_jobs(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        queued = await queue.enqueue(tasks.echo, "q")
        delayed = await queue.enqueue(tasks.echo, "d", delay=30)
        assert await queued.abort() is True
        assert await delayed.abort() is True
        assert await queued.abort() is False  # finished already
        for handle in (queued, delayed):
            assert (await handle.info()).state is JobState.ABORTED
            with pytest.raises(JobAbortedError):
                await handle.result()
        health = await queue.health()
        assert (health.waiting, health.delayed) == (0, 0)
        assert queue.statistics().aborts_requested == 3


async def test_abort_reaches_a_running_job(face: Face, config: QueueConfig) -> None:
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue, worker_for(config, calls) as worker:
        tasks = define(queue)
        handle = await queue.enqueue(tasks.slow, 30.0)
        await wait_for(lambda: handle.id in calls.runs)
        assert await handle.abort() is True
        with pytest.raises(JobAbortedError):
            await handle.result(timeout=5)
        assert calls.cancelled == [handle.id]
        await wait_for(lambda: worker.statistics().aborted == 1)


async def test_undecodable_payload_and_unknown_task_go_to_the_dead_letters(
    face: Face, config: QueueConfig
) -> None:
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue, worker_for(config, calls):
        bad = await queue.enqueue("resize", {"url": "x"})  # no width
        unknown = await queue.enqueue("nobody.knows", 1)
        for handle, error_type in ((bad, "InvalidPayload"), (unknown, "UnknownTask")):
            with pytest.raises(JobFailedError) as caught:
                await handle.result(timeout=5)
            assert caught.value.error_type == error_type
            assert (await handle.info()).state is JobState.DEAD
        assert calls.runs == {}
        letters = await queue.dead_letters()
        by_id = {d.job_id: d for d in letters}
        assert {(i, d.error_type) for i, d in by_id.items()} == {
            (bad.id, "InvalidPayload"),
            (unknown.id, "UnknownTask"),
        }
        assert "width" in by_id[bad.id].error_message
        assert by_id[bad.id].payload == '{"url":"x"}'
        assert (await queue.health()).dead_letters == 2


async def test_requeue_dead_letters(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue:
        assert await queue.requeue_dead() == 0
        async with worker_for(config, Calls()):
            handle = await queue.enqueue("later.task", "x")
            with pytest.raises(JobFailedError):
                await handle.result(timeout=5)
        letters = await queue.dead_letters()
        assert await queue.requeue_dead([letters[0].entry_id]) == 1
        assert await queue.dead_letters() == []
        info = await handle.info()
        assert (info.state, info.attempts) == (JobState.QUEUED, 0)
        assert await queue.requeue_dead(["0-1"]) == 0


async def _claim_and_die(config: QueueConfig) -> None:
    """Take one job as a worker that then dies (never finishes nor renews it)."""
    async with QueueService(config) as queue:
        ghost = Worker(queue, name="ghost", handle_signals=False)
        runs, _ = await ghost._claim("read", 1)
        assert len(runs) == 1


async def test_a_dead_workers_job_is_taken_over_after_its_lease(
    face: Face, config: QueueConfig
) -> None:
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        handle = await queue.enqueue(tasks.echo, "orphan")
        await _claim_and_die(config)
        assert (await handle.info()).state is JobState.RUNNING
        async with worker_for(config, calls) as worker:
            assert await handle.result(timeout=10) == "orphan"
        assert calls.runs == {handle.id: 1}
        assert worker.statistics().succeeded == 1
        assert (await handle.info()).attempts == 2  # the dead worker's start counted


async def test_a_job_started_max_deliveries_times_is_dead(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        handle = await queue.enqueue(tasks.echo, "poison")
        await _claim_and_die(config)
        await anyio.sleep(config.lease_seconds)
        async with QueueService(config) as raw:
            second = Worker(raw, name="second", handle_signals=False)
            assert len((await second._claim("reclaim", 5, [600, "0", "0", "0"]))[0]) == 1
        await anyio.sleep(config.lease_seconds)
        async with worker_for(config, Calls()):
            with pytest.raises(JobFailedError) as caught:
                await handle.result(timeout=10)
        assert caught.value.error_type == "MaxDeliveriesExceeded"
        assert [d.job_id for d in await queue.dead_letters()] == [handle.id]


async def test_a_live_workers_long_job_is_never_redelivered(
    face: Face, config: QueueConfig
) -> None:
    calls = Calls()
    long_run = config.lease_seconds * 5
    async with (
        open_face(face, QueueService(config)) as queue,
        worker_for(config, calls),
        worker_for(config, calls),
    ):
        tasks = define(queue)
        handle = await queue.enqueue(tasks.slow, long_run)
        assert await handle.result(timeout=long_run + 10) == "done"
        assert calls.runs == {handle.id: 1}
        assert (await handle.info()).attempts == 1


async def test_a_fenced_off_run_cannot_record_its_outcome(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        handle = await queue.enqueue(tasks.echo, "once")
        async with QueueService(config) as raw:
            stalled = Worker(raw, name="stalled", handle_signals=False)
            (old,), _ = await stalled._claim("read", 1)
            await anyio.sleep(config.lease_seconds)
            taker = Worker(raw, name="taker", handle_signals=False)
            (new,), _ = await taker._claim("reclaim", 1, [600, "0", "0", "0"])
            assert new.deliveries == old.deliveries + 1
            await taker._complete([(new, ("succeeded", '"new"', "", "", 0))])
            await stalled._complete([(old, ("succeeded", '"old"', "", "", 0))])  # wakes up too late
            assert stalled.statistics().lost == 1
            assert taker.statistics().succeeded == 1
        assert await handle.result() == "new"


class _Started:
    """The job task group's place for the worker's spawns: records them, runs nothing."""

    def __init__(self) -> None:
        self.calls: list[object] = []

    def start_soon(self, *call: object) -> None:
        self.calls.append(call)


async def test_entries_read_beyond_the_free_capacity_go_back_unstarted(
    face: Face, config: QueueConfig
) -> None:
    """A blocking read of several streams returns up to COUNT entries from each: what
    exceeds the free capacity is queued again, never started."""
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        low = await queue.enqueue(tasks.echo, "low")
        high = await queue.enqueue(tasks.echo, "high", priority=2)
        async with QueueService(config) as raw, RedisService(raw.redis.config) as reader:
            worker = Worker(raw, name="one-slot", handle_signals=False)
            started = _Started()
            await worker._blocking_read(started, reader, 1, 1.0)  # type: ignore[arg-type]
            assert [run.job_id for run in worker._running.values()] == [high.id]
            assert len(started.calls) == 1
            info = await low.info()
            assert (info.state, info.attempts) == (JobState.QUEUED, 0)
            (again,), _ = await worker._claim("read", 1)
            assert (again.job_id, again.deliveries, again.attempt) == (low.id, 1, 1)


async def test_graceful_stop_requeues_without_using_an_attempt(
    face: Face, redis_config: RedisConfig
) -> None:
    config = make_config(redis_config, shutdown_grace_seconds=0.2)
    calls = Calls()
    try:
        async with open_face(face, QueueService(config)) as queue:
            tasks = define(queue)
            handle = await queue.enqueue(tasks.slow, 30.0)
            async with worker_for(config, calls) as worker:
                await wait_for(lambda: handle.id in calls.runs)
            assert worker.statistics().released == 1
            assert calls.cancelled == [handle.id]
            info = await handle.info()
            assert (info.state, info.attempts) == (JobState.QUEUED, 0)
    finally:
        await cleanup(config)


async def test_graceful_stop_lets_running_jobs_finish(face: Face, config: QueueConfig) -> None:
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        handle = await queue.enqueue(tasks.slow, 0.3)
        async with worker_for(config, calls) as worker:
            await wait_for(lambda: handle.id in calls.runs)
        assert worker.statistics().succeeded == 1
        assert await handle.result() == "done"
        assert calls.cancelled == []


async def test_a_result_that_does_not_validate_fails_the_job(
    face: Face, config: QueueConfig
) -> None:
    async with open_face(face, QueueService(config)) as queue, worker_for(config, Calls()):
        await queue.probe()
        assert "on redis://" in repr(queue)
        # "resize" promises a Resized; a payload that makes it return one is fine, so
        # ask "flaky" (-> int) by name with a result type it cannot meet instead:
        handle = await queue.enqueue("flaky", 0, result_type=str)
        assert "JobHandle" in repr(handle)
        with pytest.raises(QueueDataError, match="the result of flaky is not valid"):
            await handle.result(timeout=10)


async def test_a_foreign_key_in_the_way_is_reported(face: Face, config: QueueConfig) -> None:
    async with QueueService(config) as raw:
        await raw.redis.execute_command("DEL", raw.keys.streams[0])
        await raw.redis.execute_command("SET", raw.keys.streams[0], "not a stream")
    with pytest.raises(RedisResponseError, match="WRONGTYPE"):
        async with open_face(face, QueueService(config)):
            pass
    async with RedisService(config.redis) as redis:  # out of the way for the clean-up
        await redis.execute_command("DEL", QueueService(config).keys.streams[0])


async def test_a_worker_survives_its_streams_being_deleted(face: Face, config: QueueConfig) -> None:
    """FLUSHDB, or the queue's keys removed under a blocked worker: it creates the streams
    again and goes on."""
    async with open_face(face, QueueService(config)) as queue, worker_for(config, Calls()):
        tasks = define(queue)
        assert await (await queue.enqueue(tasks.echo, "before")).result(timeout=10) == "before"
        await anyio.sleep(0.1)  # the worker blocks in XREADGROUP
        await cleanup(config)  # UNBLOCKED: the stream key no longer exists
        handle = await queue.enqueue(tasks.echo, "after")  # perhaps before the group is back
        assert await handle.result(timeout=10) == "after"
        groups = await _groups(queue, config)
        assert groups == 1


async def _groups(queue: QueueService, config: QueueConfig) -> int:
    async with QueueService(config) as raw:
        return len(await raw.redis.execute_command("XINFO", "GROUPS", raw.keys.streams[-1]))


async def test_probe_reports_what_is_missing(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue, QueueService(config) as raw:
        await queue.probe()  # ready: Redis answers, every stream has the group
        stream = raw.keys.streams[1]
        await raw.redis.execute_command("XGROUP", "DESTROY", stream, "workers")
        with pytest.raises(QueueError, match="consumer group 'workers' is missing") as caught:
            await queue.probe()
        assert caught.value.resource == stream
        await raw.redis.execute_command("DEL", stream)
        with pytest.raises(QueueError, match="is missing"):
            await queue.probe()
        await raw.redis.execute_command("SET", stream, "in the way")
        with pytest.raises(RedisResponseError, match="WRONGTYPE"):
            await queue.probe()
        await raw.redis.execute_command("DEL", stream)
        await raw._ensure_streams()  # what a worker does when it finds them gone
        await queue.probe()
    with pytest.raises(ServiceClosedError):
        await queue.probe()
