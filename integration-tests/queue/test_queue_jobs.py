"""Jobs end to end on every face: results, threads, retries, timeouts, delays, priorities."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio
import pytest
from queue_support import Calls, Image, Resized, cleanup, define, make_config, wait_for, worker_for

from anyservices.queue import (
    JobEvent,
    JobFailedError,
    JobNotFoundError,
    JobState,
    QueueConfig,
    QueueDataError,
    QueueService,
    QueueTimeoutError,
)
from anyservices.redis import RedisConfig
from anyservices.testing import Face, open_face


@pytest.fixture
async def config(redis_config: RedisConfig) -> AsyncIterator[QueueConfig]:
    cfg = make_config(redis_config, lease_seconds=2)
    yield cfg
    await cleanup(cfg)


async def test_typed_result_info_and_progress(face: Face, config: QueueConfig) -> None:
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue, worker_for(config, calls):
        tasks = define(queue)
        handle = await queue.enqueue(tasks.resize, Image(url="a.png", width=640))
        result = await handle.result(timeout=10)
        assert result == Resized(url="a.png", width=320, thread="loop")
        info = await handle.info()
        assert info.state is JobState.SUCCEEDED
        assert info.attempts == 1
        assert info.progress == 0.5
        assert info.progress_message == "halfway"
        assert info.enqueued_at is not None
        assert info.started_at is not None
        assert info.finished_at is not None
        assert info.enqueued_at <= info.started_at <= info.finished_at
        assert info.error_type is None
        assert calls.runs == {handle.id: 1}
        again = queue.handle(handle.id, Resized)
        assert await again.result() == result
        assert queue.statistics().enqueued == 1


async def test_plain_function_runs_in_a_worker_thread(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue, worker_for(config, Calls()):
        tasks = define(queue)
        handle = await queue.enqueue(tasks.resize_sync, Image(url="b.png", width=10))
        result = await handle.result(timeout=10)
        assert result.thread not in {"loop", threading.main_thread().name}
        assert (await handle.info()).progress == 1.0


async def test_by_name_with_result_type(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue, worker_for(config, Calls()):
        handle = await queue.enqueue("echo", "hi", result_type=str)
        assert await handle.result(timeout=10) == "hi"
        untyped = await queue.enqueue("echo", "ho")
        assert await untyped.result(timeout=10) == "ho"


async def test_invalid_payload_is_refused_naming_the_field(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        bad: object = {"url": "x", "width": "wide"}
        with pytest.raises(QueueDataError, match="bad fields: width") as caught:
            await queue.enqueue(tasks.resize, bad)  # type: ignore[misc]  # the wrong payload, on purpose
        assert "wide" not in str(caught.value)
        with pytest.raises(QueueDataError, match="cannot be encoded"):
            await queue.enqueue("echo", object())
        with pytest.raises(ValueError, match="priority must be 0 to 2"):
            await queue.enqueue("echo", "x", priority=3)
        with pytest.raises(ValueError, match="delay or at"):
            await queue.enqueue("echo", "x", delay=1, at=datetime.now(UTC))
        with pytest.raises(ValueError, match="aware"):
            await queue.enqueue("echo", "x", at=datetime.now())  # noqa: DTZ005 -- the point


async def test_retries_then_succeeds(face: Face, config: QueueConfig) -> None:
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue, worker_for(config, calls):
        tasks = define(queue)
        handle = await queue.enqueue(tasks.flaky, 2)  # fails twice, the third run succeeds
        assert await handle.result(timeout=10) == 3
        assert calls.runs[handle.id] == 3
        assert (await handle.info()).attempts == 3


async def test_fails_for_good_after_its_attempts(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue, worker_for(config, Calls()):
        tasks = define(queue)
        handle = await queue.enqueue(tasks.flaky, 5)
        with pytest.raises(JobFailedError) as caught:
            await handle.result(timeout=10)
        assert caught.value.error_type == "RuntimeError"
        assert caught.value.error_message == "attempt 3 fails"
        assert caught.value.attempts == 3
        info = await handle.info()
        assert info.state is JobState.FAILED


async def test_timeout_counts_as_a_failure(face: Face, config: QueueConfig) -> None:
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue, worker_for(config, calls):
        tasks = define(queue)
        handle = await queue.enqueue(tasks.timeout, 5)
        with pytest.raises(JobFailedError, match=r"timed out after 0\.1 s") as caught:
            await handle.result(timeout=10)
        assert caught.value.error_type == "TimeoutError"
        assert calls.runs[handle.id] == 2  # retried once, as its Retry says


async def test_result_timeout_and_unknown_jobs(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        handle = await queue.enqueue(tasks.echo, "nobody runs me")
        with pytest.raises(QueueTimeoutError, match=r"did not finish within 0\.2 s"):
            await handle.result(timeout=0.2)
        missing = queue.handle("no-such-job")
        with pytest.raises(JobNotFoundError):
            await missing.info()
        with pytest.raises(JobNotFoundError):
            await missing.result()
        with pytest.raises(JobNotFoundError):
            await missing.abort()


async def test_a_waiter_giving_up_leaves_the_others_waiting(
    face: Face, config: QueueConfig
) -> None:
    async with open_face(face, QueueService(config)) as queue, worker_for(config, Calls()):
        tasks = define(queue)
        handle = await queue.enqueue(tasks.slow, 1.0)
        results: list[str] = []

        async def patient() -> None:
            results.append(await handle.result(timeout=10))

        async with anyio.create_task_group() as tg:
            tg.start_soon(patient)
            with pytest.raises(QueueTimeoutError):
                await handle.result(timeout=0.3)  # one job, two waiters: this one leaves
        assert results == ["done"]


async def test_delayed_jobs_start_on_time(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue, worker_for(config, Calls()):
        tasks = define(queue)
        later = await queue.enqueue(tasks.echo, "later", delay=0.4)
        at = await queue.enqueue(tasks.echo, "at", at=datetime.now(UTC) + timedelta(seconds=0.2))
        info = await later.info()
        assert info.state is JobState.DELAYED
        assert info.due_at is not None
        assert await at.result(timeout=10) == "at"
        assert await later.result(timeout=10) == "later"
        done = await later.info()
        assert done.started_at is not None
        assert done.enqueued_at is not None
        assert done.started_at >= done.enqueued_at + timedelta(seconds=0.4)


async def test_higher_priorities_run_first(face: Face, config: QueueConfig) -> None:
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        low = [await queue.enqueue(tasks.echo, f"low{i}") for i in range(3)]
        high = [await queue.enqueue(tasks.echo, f"high{i}", priority=2) for i in range(3)]
        mid = await queue.enqueue(tasks.echo, "mid", priority=1)
        async with QueueService(config) as worker_queue:
            define(worker_queue, calls)
            from anyservices.queue import Worker  # noqa: PLC0415

            stats = await Worker(worker_queue, concurrency=1, handle_signals=False).run(burst=True)
        assert stats.succeeded == 7
        expected = [h.id for h in high] + [mid.id] + [h.id for h in low]
        assert calls.started == expected


async def test_a_worker_never_runs_more_than_its_concurrency(
    face: Face, config: QueueConfig
) -> None:
    """Ready jobs of every priority, and delayed ones coming due while the reader blocks
    (the promoter moves them) or while every slot is taken."""
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        async with worker_for(config, calls, concurrency=2):
            await anyio.sleep(0.1)  # the reader is blocked in XREADGROUP
            handles = [await queue.enqueue(tasks.slow, 0.1, delay=0.05 * i) for i in range(4)]
            handles += [await queue.enqueue(tasks.slow, 0.1, priority=p) for p in (0, 1, 2, 2)]
            for handle in handles:
                assert await handle.result(timeout=10) == "done"
    assert calls.peak == 2
    assert sorted(calls.runs.values()) == [1] * 8


async def test_deduplication_by_job_id_and_unique_key(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        first = await queue.enqueue(tasks.echo, "a", job_id="fixed")
        second = await queue.enqueue(tasks.echo, "b", job_id="fixed")
        assert first.id == second.id == "fixed"
        one = await queue.enqueue(tasks.echo, "c", unique_key="report-7")
        two = await queue.enqueue(tasks.echo, "d", unique_key="report-7", delay=5)
        assert one.id == two.id
        stats = queue.statistics()
        assert (stats.enqueued, stats.deduplicated) == (2, 2)
    calls = Calls()
    async with worker_for(config, calls):
        await wait_for(lambda: len(calls.runs) == 2)
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        third = await queue.enqueue(tasks.echo, "e", unique_key="report-7")  # the key is free again
        assert third.id != one.id


async def test_concurrent_enqueues_with_one_unique_key_make_one_job(
    face: Face, config: QueueConfig
) -> None:
    ids: set[str] = set()
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)

        async def enqueue(index: int) -> None:
            handle = await queue.enqueue(tasks.echo, str(index), unique_key="only-one")
            ids.add(handle.id)

        async with anyio.create_task_group() as tg:
            for index in range(100):
                tg.start_soon(enqueue, index)
        health = await queue.health()
        assert len(ids) == 1
        assert health.waiting == 1


async def test_events_follow_every_state_change(face: Face, config: QueueConfig) -> None:
    seen: list[JobEvent] = []
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        async with queue.events() as events, worker_for(config, Calls()):
            handle = await queue.enqueue(tasks.flaky, 1)
            with anyio.fail_after(10):
                async for event in events:
                    seen.append(event)
                    if event.state is JobState.SUCCEEDED:
                        break
    states = [(e.state, e.attempt) for e in seen if e.job_id == handle.id]
    assert states == [
        (JobState.QUEUED, 0),
        (JobState.RUNNING, 1),
        (JobState.DELAYED, 1),
        (JobState.QUEUED, 1),
        (JobState.RUNNING, 2),
        (JobState.SUCCEEDED, 2),
    ]
    retry = next(e for e in seen if e.state is JobState.DELAYED)
    assert retry.error == "RuntimeError: attempt 1 fails"
    assert all(e.task == "flaky" for e in seen)


async def test_streams_stay_empty_after_a_run(face: Face, config: QueueConfig) -> None:
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue, worker_for(config, calls):
        tasks = define(queue)
        handles = [await queue.enqueue(tasks.echo, str(i)) for i in range(200)]
        for handle in handles:
            await handle.result(timeout=10)
        health = await queue.health()
        assert (health.waiting, health.running, health.delayed) == (0, 0, 0)
        assert health.oldest_pending_seconds == 0
        assert health.live_workers == 1
    async with QueueService(config) as raw:
        lengths = [await raw.redis.execute_command("XLEN", s) for s in raw.keys.streams]
    assert lengths == [0, 0, 0]


@pytest.mark.faces("asyncio", "trio")
async def test_task_enqueue_is_queue_enqueue(face: Face, config: QueueConfig) -> None:
    async with open_face(face, QueueService(config)) as queue, worker_for(config, Calls()):
        tasks = define(queue)
        handle = await tasks.echo.enqueue("direct", priority=1)
        assert await handle.result(timeout=10) == "direct"
        assert (await handle.info()).priority == 1
