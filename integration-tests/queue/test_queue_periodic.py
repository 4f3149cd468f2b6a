"""Periodic jobs on every face: each tick of an ``every=`` or cron schedule runs once
across several workers (1-second ticks, a few of them)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import anyio
import pytest
from queue_support import Calls, Tasks, cleanup, define, make_config, worker_for

from anyservices.queue import JobNotFoundError, JobState, QueueConfig, QueueService, Worker
from anyservices.redis import RedisConfig, RedisConnectError
from anyservices.testing import Face, open_face

TICKS = 3  # ticks watched per test (one a second)
WORKERS = 3

SCHEDULES = {"every": {"every": 1.0}, "cron": {"cron": "* * * * * *"}}  # cron: seconds last


@pytest.fixture
async def config(redis_config: RedisConfig) -> AsyncIterator[QueueConfig]:
    cfg = make_config(redis_config, lease_seconds=2)
    yield cfg
    await cleanup(cfg)


@pytest.mark.parametrize("kind", list(SCHEDULES))
async def test_each_tick_runs_once_across_workers(
    face: Face, config: QueueConfig, kind: str
) -> None:
    calls = Calls()

    def schedule(queue: QueueService, tasks: Tasks) -> None:
        queue.periodic(tasks.echo, "tick", name="beat", **SCHEDULES[kind])  # type: ignore[arg-type]

    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        periodic = queue.periodic(tasks.echo, "tick", name="beat", **SCHEDULES[kind])  # type: ignore[arg-type]
        assert periodic.name == "beat"
        assert periodic.task.name == "echo"
        ticks: list[int] = []
        async with queue.events() as events, AsyncExitStack() as stack:
            workers: list[Worker] = [
                await stack.enter_async_context(worker_for(config, calls, setup=schedule))
                for _ in range(WORKERS)
            ]
            with anyio.fail_after(TICKS + 10):
                async for event in events:
                    if event.state is JobState.SUCCEEDED and event.job_id.startswith("beat@"):
                        ticks.append(int(event.job_id.removeprefix("beat@")))
                        if len(ticks) == TICKS:
                            break
        ticks.sort()
        assert [b - a for a, b in itertools.pairwise(ticks)] == [1000] * (TICKS - 1)
        assert all(tick % 1000 == 0 for tick in ticks)
        beats = {job: n for job, n in calls.runs.items() if job.startswith("beat@")}
        assert set(beats.values()) == {1}  # no tick ran twice
        fired = sum(worker.statistics().fired for worker in workers)
        assert fired >= len(beats) >= TICKS  # one job per tick, whichever worker fired it
        for tick in ticks:
            info = await queue.info(f"beat@{tick}")
            assert info.state is JobState.SUCCEEDED
            assert info.task == "echo"


async def test_a_tick_fires_once_and_never_after_a_later_one(
    face: Face, config: QueueConfig
) -> None:
    async with open_face(face, QueueService(config)) as queue, QueueService(config) as own:
        tasks = define(own)
        schedule = own.periodic(tasks.echo, "tick", every=60, priority=2)
        worker = Worker(own, handle_signals=False)
        await worker._fire(schedule, 120_000)
        await worker._fire(schedule, 120_000)
        await worker._fire(schedule, 60_000)
        assert worker.statistics().fired == 1
        info = await queue.info("echo@120000")
        assert (info.state, info.priority) == (JobState.QUEUED, 2)
        with pytest.raises(JobNotFoundError):
            await queue.info("echo@60000")


async def test_periodic_through_the_face_registers_on_the_queue(
    face: Face, config: QueueConfig
) -> None:
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        periodic = queue.periodic(tasks.echo, "x", every=0.5)
        assert repr(periodic) == "<Periodic echo (echo) every 0.5 s>"
        assert periodic.next_tick(1_250) == 1_500
        with pytest.raises(ValueError, match="registered already"):
            queue.periodic(tasks.echo, "y", every=2)
        with pytest.raises(ValueError, match="priority must be 0 to 2"):
            queue.periodic(tasks.echo, "y", every=2, name="other", priority=7)


async def test_periodic_keeps_firing_after_redis_errors(config: QueueConfig) -> None:
    """A tick whose script fails (Redis away) is skipped; the next one fires."""
    calls = Calls()
    async with QueueService(config) as queue:
        tasks = define(queue, calls)
        queue.periodic(tasks.echo, "tick", every=0.2)
        worker = Worker(queue, handle_signals=False)
        real = worker._fire
        failures = 0

        async def flaky(schedule: object, tick: int) -> None:
            nonlocal failures
            if failures == 0:
                failures += 1
                raise RedisConnectError("away", service="redis")
            await real(schedule, tick)  # type: ignore[arg-type]

        worker._fire = flaky  # type: ignore[method-assign]
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            with anyio.fail_after(5):
                while worker.statistics().succeeded < 2:  # noqa: ASYNC110 -- polls the worker
                    await anyio.sleep(0.02)
            worker.stop()
        assert failures == 1
        assert set(calls.runs.values()) == {1}
