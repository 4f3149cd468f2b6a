"""A fresh job read by the blocked reader starts before its claim comes back: what
happens when the claim refuses it, or fails (the entries are written by hand, as a
race with an abort or a deleted key would leave them)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
from queue_support import Calls, cleanup, define, make_config, wait_for

from anyservices.queue import QueueConfig, QueueService, Worker
from anyservices.redis import RedisConfig, RedisResponseError

pytestmark = pytest.mark.faces("asyncio", "trio")  # the worker runs on the test's loop


@pytest.fixture
async def config(redis_config: RedisConfig) -> AsyncIterator[QueueConfig]:
    cfg = make_config(redis_config, lease_seconds=60)  # each blocking read lasts its full 5 s
    yield cfg
    await cleanup(cfg)


async def _blocked(worker: Worker, queue: QueueService) -> None:
    """Until the worker's reader is blocked in XREADGROUP (flag ``b``: a read that
    ended and is not blocked again yet would leave the entry to a CLAIM script)."""
    await wait_for(lambda: worker._reader_id is not None)
    reader = worker._reader_id
    assert reader is not None
    with anyio.fail_after(5):
        while True:
            clients = await queue.redis.execute_command("CLIENT", "LIST", "ID", reader)
            if "cmd=xreadgroup" in clients and " flags=b " in clients:
                return
            await anyio.sleep(0.01)


async def _fresh_entry(queue: QueueService, task: str, payload: str) -> str:
    """A fresh job's entry with no job behind it (its hash gone meanwhile)."""
    job_id = uuid.uuid4().hex
    stream = queue.keys.streams[-1]  # priority 0
    await queue.redis.execute_command(
        "XADD", stream, "*", "id", job_id, "t", task, "p", payload, "n", ""
    )
    return job_id


@pytest.mark.parametrize(("task", "payload"), [("slow", "30"), ("echo", '"x"')])
async def test_a_run_its_claim_refuses_is_cancelled_and_nothing_is_recorded(
    config: QueueConfig, task: str, payload: str
) -> None:
    """A long run is cancelled when the claim refuses it; a short one that finished
    first is dropped. Either way nothing is recorded, and it counts as lost once."""
    calls = Calls()
    async with QueueService(config) as queue, anyio.create_task_group() as tg:
        define(queue, calls)
        worker = Worker(queue, handle_signals=False)
        tg.start_soon(worker.run)
        await _blocked(worker, queue)
        job_id = await _fresh_entry(queue, task, payload)
        await wait_for(lambda: worker.statistics().lost == 1)
        await wait_for(lambda: worker.statistics().running == 0)
        assert calls.runs == {job_id: 1}  # it started before its claim came back
        assert calls.cancelled == ([job_id] if task == "slow" else [])
        statistics = worker.statistics()
        assert (statistics.started, statistics.lost, statistics.succeeded) == (1, 1, 0)
        assert await queue.redis.execute_command("EXISTS", queue.keys.job(job_id)) == 0
        assert await queue.redis.execute_command("XLEN", queue.keys.streams[-1]) == 0
        # The worker goes on: a real job after it runs and is recorded.
        handle = await queue.enqueue("echo", "after")
        assert await handle.result(timeout=10) == "after"
        worker.stop()


async def test_a_claim_that_fails_cancels_the_runs_started_before_it(
    config: QueueConfig,
) -> None:
    """The job key holds a string: the claim script fails (WRONGTYPE) and stops the
    worker; the run it started early is cancelled first, nothing recorded."""
    calls = Calls()
    async with QueueService(config) as queue:
        define(queue, calls)
        worker = Worker(queue, handle_signals=False)

        async def corrupt() -> None:
            await _blocked(worker, queue)
            job_id = uuid.uuid4().hex
            await queue.redis.execute_command("SET", queue.keys.job(job_id), "not a hash")
            await queue.redis.execute_command(
                "XADD", queue.keys.streams[-1], "*", "id", job_id, "t", "slow", "p", "30", "n", ""
            )

        with pytest.RaisesGroup(
            pytest.RaisesExc(RedisResponseError, match="WRONGTYPE"), flatten_subgroups=True
        ):
            async with anyio.create_task_group() as tg:
                tg.start_soon(worker.run)
                tg.start_soon(corrupt)
        assert len(calls.runs) == 1
        assert calls.cancelled == list(calls.runs)
        assert (worker.statistics().lost, worker.statistics().succeeded) == (1, 0)
