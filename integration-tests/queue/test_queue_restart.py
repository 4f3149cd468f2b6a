"""Signals in process, and a private Redis restarted under a running worker."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from queue_support import (
    Calls,
    define,
    make_config,
    private_redis,
    start_redis,
    until_up,
    wait_for,
)

from anyservices.queue import QueueService, Worker
from anyservices.redis import RedisConfig
from anyservices.testing import Face, open_face

__all__ = ("private_redis",)  # a fixture

pytestmark = pytest.mark.faces("asyncio", "trio")


async def test_sigterm_stops_a_worker_gracefully(face: Face, redis_config: RedisConfig) -> None:
    config = make_config(redis_config)
    calls = Calls()
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue, calls)
        handle = await queue.enqueue(tasks.slow, 0.2)
        worker = Worker(queue, concurrency=2)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await wait_for(lambda: handle.id in calls.runs, 20)
            os.kill(os.getpid(), signal.SIGTERM)
        assert worker.statistics().succeeded == 1
        worker.stop()  # stopping a stopped worker does nothing
        assert (await queue.health()).live_workers == 0


async def test_workers_reconnect_after_a_redis_restart(
    face: Face, private_redis: tuple[int, Path, subprocess.Popen[bytes]]
) -> None:
    port, folder, first = private_redis
    config = make_config(RedisConfig(port=port), lease_seconds=1.0)
    calls = Calls()
    restarted: subprocess.Popen[bytes] | None = None
    await until_up(config)
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue, calls)
        handles = [await queue.enqueue(tasks.slow, 0.3) for _ in range(10)]
        async with QueueService(config) as worker_queue, anyio.create_task_group() as tg:
            define(worker_queue, calls)
            worker = Worker(worker_queue, concurrency=4, handle_signals=False)
            tg.start_soon(worker.run)
            await wait_for(lambda: len(calls.runs) >= 2, 20)
            await anyio.run_process(
                ["redis-cli", "-p", str(port), "shutdown", "nosave"], check=False
            )
            await anyio.to_thread.run_sync(first.wait)
            restarted = start_redis(port, folder)
            try:
                await until_up(config)
                for handle in handles:
                    assert await handle.result(timeout=30) == "done"
            finally:
                worker.stop()
    assert restarted is not None
    restarted.kill()
    restarted.wait(10)
    assert set(calls.runs) == {h.id for h in handles}
