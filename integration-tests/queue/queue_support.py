"""Shared set-up of the queue integration tests: configs, tasks, a worker in the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio
import pytest
from pydantic import BaseModel

from anyservices._core._syncface import SyncFace
from anyservices.queue import JobContext, QueueConfig, QueueService, Retry, Task, Worker
from anyservices.redis import RedisConfig, RedisConnectError
from anyservices.testing import AsyncView

P = TypeVar("P")
R = TypeVar("R")


def make_config(redis_config: RedisConfig, **overrides: Any) -> QueueConfig:
    """A queue of its own (a unique name under the test's namespace)."""
    values: dict[str, Any] = {"name": f"q{uuid.uuid4().hex[:10]}", "redis": redis_config}
    values.update(overrides)
    return QueueConfig(**values)


class Image(BaseModel):
    url: str
    width: int


class Resized(BaseModel):
    url: str
    width: int
    thread: str


@dataclass
class Calls:
    """What the tasks saw, for the test to check (worker and test share one process)."""

    runs: dict[str, int] = field(default_factory=dict[str, int])
    started: list[str] = field(default_factory=list[str])
    cancelled: list[str] = field(default_factory=list[str])
    gate: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    active: int = 0  # slow jobs running now
    peak: int = 0  # the most slow jobs running at once

    def record(self, job_id: str) -> None:
        with self.lock:
            self.runs[job_id] = self.runs.get(job_id, 0) + 1
            self.started.append(job_id)


@dataclass
class Tasks:
    resize: Task[Image, Resized]
    resize_sync: Task[Image, Resized]
    flaky: Task[int, int]
    slow: Task[float, str]
    blocked: Task[str, str]
    timeout: Task[int, int]
    echo: Task[str, str]
    calls: Calls


def _registrar(queue: QueueService) -> QueueService:
    """The sync face itself under an AsyncView (its ``task()`` makes SyncTasks)."""
    return cast("QueueService", queue.sync_face) if isinstance(queue, AsyncView) else queue


def define(queue: QueueService, calls: Calls | None = None) -> Tasks:
    """Register the test tasks on ``queue`` (the client's and the worker's queue alike).

    On the sync face they are registered through the face itself, so each is the
    ``SyncTask`` a sync caller gets (``as_async`` gives its async view).
    """
    calls = calls or Calls()
    queue = _registrar(queue)

    @queue.task(name="resize")
    async def resize(ctx: JobContext, payload: Image) -> Resized:
        calls.record(ctx.job_id)
        await ctx.progress(0.5, "halfway")
        return Resized(url=payload.url, width=payload.width // 2, thread="loop")

    @queue.task(name="resize_sync")
    def resize_sync(ctx: JobContext, payload: Image) -> Resized:
        calls.record(ctx.job_id)
        ctx.progress_sync(1.0)
        return Resized(url=payload.url, width=payload.width, thread=threading.current_thread().name)

    @queue.task(name="flaky", retry=Retry(attempts=3, backoff=0.01, max_backoff=0.05))
    async def flaky(ctx: JobContext, payload: int) -> int:
        calls.record(ctx.job_id)
        if ctx.attempt <= payload:
            raise RuntimeError(f"attempt {ctx.attempt} fails")
        return ctx.attempt

    @queue.task(name="slow")
    async def slow(ctx: JobContext, payload: float) -> str:
        calls.record(ctx.job_id)
        calls.active += 1
        calls.peak = max(calls.peak, calls.active)
        try:
            await anyio.sleep(payload)
        except anyio.get_cancelled_exc_class():
            calls.cancelled.append(ctx.job_id)
            raise
        finally:
            calls.active -= 1
        return "done"

    @queue.task(name="blocked")
    def blocked(ctx: JobContext, payload: str) -> str:
        calls.record(ctx.job_id)
        calls.gate.wait(10)
        return payload

    @queue.task(name="timeout", timeout=0.1, retry=Retry(attempts=2, backoff=0))
    async def timeout(ctx: JobContext, payload: int) -> int:
        calls.record(ctx.job_id)
        await anyio.sleep(payload)
        return payload

    @queue.task(name="echo")
    async def echo(ctx: JobContext, payload: str) -> str:
        calls.record(ctx.job_id)
        return payload

    return Tasks(resize, resize_sync, flaky, slow, blocked, timeout, echo, calls)


def as_async(task: Task[P, R]) -> Task[P, R]:
    """The task with the async API: itself, or the AsyncView of the sync face's task."""
    if isinstance(task, SyncFace):
        return cast("Task[P, R]", AsyncView(cast("SyncFace[Any]", task)))
    return task


@asynccontextmanager
async def worker_for(
    config: QueueConfig,
    calls: Calls | None = None,
    *,
    setup: Callable[[QueueService, Tasks], object] | None = None,
    **options: Any,
) -> AsyncGenerator[Worker, None]:
    """A worker with its own QueueService (as in another process), running for the block;
    ``setup(queue, tasks)`` adds to its queue (periodic schedules) before it starts."""
    async with QueueService(config) as queue, anyio.create_task_group() as tg:
        tasks = define(queue, calls)
        if setup is not None:
            setup(queue, tasks)
        worker = Worker(queue, handle_signals=False, **options)
        tg.start_soon(worker.run)
        try:
            yield worker
        finally:
            worker.stop()


async def cleanup(config: QueueConfig) -> None:
    """Delete every key of the queue."""
    async with QueueService(config) as queue:
        keys = await queue.redis.execute_command("KEYS", f"{queue.keys.prefix}*")
        if keys:
            await queue.redis.execute_command("UNLINK", *keys)


async def wait_for(predicate: Any, seconds: float = 5.0) -> None:
    """Poll ``predicate()`` (bounded) until it holds."""
    with anyio.fail_after(seconds):
        while not predicate():  # noqa: ASYNC110 -- the tasks signal through plain data
            await anyio.sleep(0.01)


def now() -> float:
    return time.time()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis(port: int, folder: Path, *, durable: bool = True) -> subprocess.Popen[bytes]:
    """A private redis-server (its own to stop and restart); ``durable``: fsync every write."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is installed by anyservices.devservers"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
               "--save", ""]  # fmt: skip
    command += ["--appendonly", "yes", "--appendfsync", "always"] if durable else []
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[bytes]]]:
    """A private durable redis-server: (port, its folder, the process), killed at the end."""
    port = free_port()
    server = start_redis(port, tmp_path)
    yield port, tmp_path, server
    server.kill()
    server.wait(10)


async def until_up(config: QueueConfig) -> None:
    """Wait (bounded) until the server at ``config`` answers."""
    with anyio.fail_after(20):
        while True:  # the server starts in the background
            try:
                async with QueueService(config):
                    return
            except RedisConnectError:
                await anyio.sleep(0.05)
