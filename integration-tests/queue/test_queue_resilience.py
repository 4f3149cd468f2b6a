"""What a worker rides out and what stops it: Redis away, keys deleted or in the way,
odd messages, a run reclaimed from under its own worker, aborts while a thread runs."""

from __future__ import annotations

import logging
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from queue_support import (
    Calls,
    Tasks,
    cleanup,
    define,
    make_config,
    private_redis,
    start_redis,
    until_up,
    wait_for,
    worker_for,
)

from anyservices.queue import (
    JobAbortedError,
    JobContext,
    JobFailedError,
    QueueConfig,
    QueueService,
    Worker,
)
from anyservices.redis import RedisConfig, RedisResponseError
from anyservices.testing import Face, open_face

__all__ = ("private_redis",)  # a fixture


@pytest.fixture
async def config(redis_config: RedisConfig) -> AsyncIterator[QueueConfig]:
    cfg = make_config(redis_config, lease_seconds=0.6)
    yield cfg
    await cleanup(cfg)


class _Log(logging.Handler):
    """The messages a worker logged (a logger of its own per test)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.logger = logging.getLogger(f"tests.queue.{uuid.uuid4().hex}")
        self.logger.addHandler(self)
        self.logger.propagate = False

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def saw(self, text: str) -> bool:
        return any(text in message for message in self.messages)


@pytest.fixture
def log() -> Iterator[_Log]:
    handler = _Log()
    yield handler
    handler.logger.removeHandler(handler)


@pytest.mark.faces("asyncio", "trio")
async def test_every_loop_rides_out_redis_going_away(
    face: Face, private_redis: tuple[int, Path, subprocess.Popen[bytes]], log: _Log
) -> None:
    """Redis stops for longer than a lease while a job runs, a delayed job falls due and
    ticks are due: each loop logs and goes on; the finished job's outcome cannot be
    recorded within a lease (it is redelivered once Redis is back); nothing is lost."""
    port, folder, first = private_redis
    config = make_config(RedisConfig(port=port), lease_seconds=0.8)
    await until_up(config)
    calls = Calls()
    restarted: subprocess.Popen[bytes] | None = None

    def ticking(queue: QueueService, tasks: Tasks) -> None:
        queue.periodic(tasks.echo, "tick", every=0.2)

    try:
        async with open_face(face, QueueService(config)) as queue:
            tasks = define(queue)
            async with worker_for(config, calls, setup=ticking, logger=log.logger) as worker:
                running = await queue.enqueue(tasks.slow, 0.3)  # ends while Redis is away
                delayed = await queue.enqueue(tasks.echo, "due meanwhile", delay=0.6)
                await wait_for(lambda: running.id in calls.runs, 10)
                await anyio.run_process(["redis-cli", "-p", str(port), "shutdown"], check=False)
                await anyio.to_thread.run_sync(first.wait)
                away = anyio.current_time()
                await wait_for(lambda: worker.statistics().lost >= 1, 10)  # gave up: a lease
                # The slow job's own outcome is given up a lease after it ends (a tick's
                # loss may come first): Redis stays away until then.
                await anyio.sleep(max(0.0, away + 0.3 + 0.8 + 0.4 - anyio.current_time()))
                restarted = start_redis(port, folder)
                await until_up(config)
                assert await running.result(timeout=20) == "done"
                assert await delayed.result(timeout=20) == "due meanwhile"
                fired = worker.statistics().fired
                await wait_for(lambda: worker.statistics().fired > fired, 10)  # ticks go on
    finally:
        if restarted is not None:
            restarted.kill()
            restarted.wait(10)
    assert calls.runs[running.id] == 2  # its first outcome was never recorded
    assert log.saw("; retrying in")  # the read loop
    assert log.saw("; retrying\n") or any(m.endswith("; retrying") for m in log.messages)
    assert sum("retrying" not in m for m in log.messages) >= 2  # heartbeat, promoter, ticks


@pytest.mark.faces("asyncio", "trio")
async def test_a_worker_stops_while_redis_is_away(
    face: Face, private_redis: tuple[int, Path, subprocess.Popen[bytes]], log: _Log
) -> None:
    port, _, server = private_redis
    config = make_config(RedisConfig(port=port), lease_seconds=0.8)
    await until_up(config)
    async with QueueService(config) as queue:
        tasks = define(queue)
        worker = Worker(queue, handle_signals=False, logger=log.logger)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await tasks.echo.enqueue("first")
            await wait_for(lambda: worker.statistics().succeeded == 1)
            await anyio.sleep(0.1)  # then it blocks in XREADGROUP
            server.kill()
            await anyio.to_thread.run_sync(server.wait)
            worker.stop()  # its CLIENT UNBLOCK cannot be sent: the read fails anyway
        assert worker.statistics().running == 0


async def test_loops_ride_out_streams_deleted_under_them(
    face: Face, config: QueueConfig, log: _Log
) -> None:
    """The streams are deleted while the only slot runs a job: the heartbeat meets
    NOGROUP and goes on; the reader makes the streams again once the slot is free."""
    async with (
        open_face(face, QueueService(config)) as queue,
        worker_for(config, Calls(), concurrency=1, logger=log.logger) as worker,
        QueueService(config) as raw,
    ):
        tasks = define(queue)
        running = await queue.enqueue(tasks.slow, 1.0)
        await wait_for(lambda: worker.statistics().running == 1)
        await raw.redis.execute_command("DEL", *raw.keys.streams)
        await wait_for(lambda: log.saw("NOGROUP"))  # a heartbeat's XCLAIM
        assert await running.result(timeout=10) == "done"
        after = await queue.enqueue(tasks.echo, "after")
        assert await after.result(timeout=10) == "after"


async def test_a_foreign_key_in_place_of_a_stream_stops_the_worker(config: QueueConfig) -> None:
    async with QueueService(config) as queue:
        define(queue)
        await queue.redis.execute_command("DEL", queue.keys.streams[0])
        await queue.redis.execute_command("SET", queue.keys.streams[0], "not a stream")
        with pytest.RaisesGroup(
            pytest.RaisesExc(RedisResponseError, match="WRONGTYPE"), flatten_subgroups=True
        ):
            await Worker(queue, handle_signals=False).run()
        await queue.redis.execute_command("DEL", queue.keys.streams[0])


async def test_a_foreign_key_in_place_of_the_delayed_set_stops_the_promoter(
    config: QueueConfig,
) -> None:
    async with QueueService(config) as queue:
        define(queue)
        await queue.redis.execute_command("SET", queue.keys.delayed, "not a sorted set")
        with pytest.RaisesGroup(
            pytest.RaisesExc(RedisResponseError, match="WRONGTYPE"), flatten_subgroups=True
        ):
            await Worker(queue, handle_signals=False).run()
        await queue.redis.execute_command("DEL", queue.keys.delayed)


async def test_odd_control_and_event_messages_are_ignored(face: Face, config: QueueConfig) -> None:
    """Bytes that are not text, unknown words, aborts of jobs not running here: each
    loop goes on (the abort after them, in order, still lands)."""
    calls = Calls()
    async with (
        open_face(face, QueueService(config)) as queue,
        worker_for(config, calls),
        QueueService(config) as raw,
    ):
        tasks = define(queue)
        handle = await queue.enqueue(tasks.slow, 30)
        await wait_for(lambda: handle.id in calls.runs)
        waiting = anyio.Event()

        async def wait_result() -> None:
            waiting.set()
            with pytest.raises(JobAbortedError):
                await handle.result(timeout=10)

        async def heard(channel: str, data: str | bytes) -> None:
            """Publish ``data`` until a subscriber gets it (the waiter subscribes soon)."""
            with anyio.fail_after(5):
                while not await raw.redis.execute_command("PUBLISH", channel, data):  # noqa: ASYNC110 -- the count is the server's
                    await anyio.sleep(0.01)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_result)
            await waiting.wait()
            for channel in (raw.keys.control_full, raw.keys.events_full):
                for data in (b"\xff\xfe not text", "hello", "abort:no-such-job"):
                    await heard(channel, data)
            assert await queue.abort(handle.id)
        assert calls.cancelled == [handle.id]


async def test_an_abort_waits_for_a_plain_task_thread(face: Face, config: QueueConfig) -> None:
    """A plain function in a worker thread cannot be interrupted: its run is aborted
    when it returns (heartbeats keep noting the abort meanwhile)."""
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue, worker_for(config, calls) as worker:
        tasks = define(queue)
        handle = await queue.enqueue(tasks.blocked, "x")
        await wait_for(lambda: handle.id in calls.runs)
        assert await queue.abort(handle.id)
        await anyio.sleep(config.lease_seconds)  # several heartbeats note the abort again
        assert worker.statistics().running == 1
        calls.gate.set()
        with pytest.raises(JobAbortedError):
            await handle.result(timeout=10)
        await wait_for(lambda: worker.statistics().aborted == 1)  # counted once recorded


async def test_a_run_reclaimed_by_its_own_worker_is_fenced_off(
    face: Face, config: QueueConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose heartbeat stalls past the lease takes its own job over: the old
    run is cancelled (lost), the new one records the outcome."""
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue, QueueService(config) as mine:
        define(mine, calls)
        worker = Worker(mine, handle_signals=False)

        async def stalled() -> None:
            """No heartbeat: the leases expire."""

        monkeypatch.setattr(worker, "_beat", stalled)
        tasks = define(queue)
        handle = await queue.enqueue(tasks.blocked, "x")
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await wait_for(lambda: calls.runs.get(handle.id) == 2)  # reclaimed: run again
            calls.gate.set()
            assert await handle.result(timeout=10) == "x"
            worker.stop()
        assert worker.statistics().lost == 1
        assert worker.statistics().succeeded == 1


async def test_more_due_jobs_than_one_promotion_moves_all_run(config: QueueConfig) -> None:
    async with QueueService(config) as queue:
        tasks = define(queue)

        async def enqueue(index: int) -> None:
            await queue.enqueue(tasks.echo, str(index), delay=600)

        async with anyio.create_task_group() as tg:
            for index in range(1001):  # the promoter moves 1000 per script call
                tg.start_soon(enqueue, index)
        delayed = queue.keys.delayed  # time passes: every one is due now, with no worker
        await queue.redis.execute_command("ZUNIONSTORE", delayed, 1, delayed, "WEIGHTS", 0)
        async with worker_for(config, Calls()) as worker:
            await wait_for(lambda: worker.statistics().succeeded == 1001, 30)
        assert (await queue.health()).delayed == 0


async def test_a_result_that_is_not_its_tasks_type_fails_the_job(
    face: Face, config: QueueConfig
) -> None:
    def liar(queue: QueueService, tasks: Tasks) -> None:
        @queue.task(name="liar")
        async def lies(ctx: JobContext, payload: int) -> int:
            return "not a number"  # type: ignore[return-value]

    async with (
        open_face(face, QueueService(config)) as queue,
        worker_for(config, setup=liar) as worker,
    ):
        handle = await queue.enqueue("liar", 1)
        with pytest.raises(JobFailedError) as caught:
            await handle.result(timeout=10)
        assert caught.value.error_type == "QueueDataError"
        assert caught.value.attempts == 1  # not retried: it would fail again
        await wait_for(lambda: worker.statistics().failed == 1)  # counted once recorded


async def test_stop_after_a_burst_does_nothing_and_it_runs_again(
    face: Face, config: QueueConfig
) -> None:
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue, QueueService(config) as mine:
        define(mine, calls)
        tasks = define(queue)
        worker = Worker(mine, handle_signals=False)
        first = await queue.enqueue(tasks.echo, "one")
        await worker.run(burst=True)
        worker.stop()  # not running: nothing to stop
        second = await queue.enqueue(tasks.echo, "two")
        assert (await worker.run(burst=True)).succeeded == 2
        assert set(calls.runs) == {first.id, second.id}
