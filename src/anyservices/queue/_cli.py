"""``python -m anyservices worker|info|dlq``: run a worker, show a queue's health, dead letters."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Literal, TypeVar

import anyio

from ._service import QueueService
from ._worker import Worker

__all__ = ("dlq_main", "info_main", "load_target", "worker_main")

T = TypeVar("T")
Backend = Literal["asyncio", "trio"]


def _say(line: str) -> None:
    print(line)  # noqa: T201 -- a command-line tool prints its report


def load_target(spec: str) -> QueueService | Worker:
    """The QueueService or Worker at ``package.module:attribute`` (dots walk attributes)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise SystemExit(f"expected package.module:attribute, not {spec!r}")
    sys.path.insert(0, "")  # like `python -m`, find modules in the current directory
    target: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not isinstance(target, QueueService | Worker):
        raise SystemExit(f"{spec} is a {type(target).__name__}, not a QueueService or Worker")
    return target


def _queue_of(target: QueueService | Worker) -> QueueService:
    return target.queue if isinstance(target, Worker) else target


def _run(
    target: QueueService | Worker, body: Callable[[QueueService], Awaitable[T]], backend: Backend
) -> T:
    async def main() -> T:
        async with _queue_of(target) as queue:
            return await body(queue)

    return anyio.run(main, backend=backend)


def worker_main(
    spec: str, *, concurrency: int | None, burst: bool, backend: Backend = "asyncio"
) -> int:
    """Run a worker until SIGTERM/SIGINT (or, with ``burst``, until the queue is empty)."""
    target = load_target(spec)

    async def work(queue: QueueService) -> None:
        worker = target if isinstance(target, Worker) else Worker(queue)
        if concurrency is not None:
            worker.concurrency = concurrency
        stats = await worker.run(burst=burst)
        _say(
            f"worker {worker.name} stopped: "
            + ", ".join(f"{k} {v}" for k, v in asdict(stats).items())
        )

    _run(target, work, backend)
    return 0


def info_main(spec: str, *, backend: Backend = "asyncio") -> int:
    """Print the queue's health."""
    target = load_target(spec)

    async def show(queue: QueueService) -> int:
        health = await queue.health()
        _say(f"queue {queue.config.name}")
        for name, value in asdict(health).items():
            _say(
                f"  {name.replace('_', ' ')}: {value:g}"
                if isinstance(value, float)
                else f"  {name.replace('_', ' ')}: {value}"
            )
        return 0

    return _run(target, show, backend)


def dlq_main(spec: str, action: str, entry_ids: list[str], *, backend: Backend = "asyncio") -> int:
    """``list`` the dead letters, or ``requeue`` them (the given entry ids, or all)."""
    target = load_target(spec)

    async def act(queue: QueueService) -> int:
        if action == "requeue":
            moved = await queue.requeue_dead(entry_ids or None)
            _say(f"requeued {moved} dead letter(s)")
            return 0
        letters = await queue.dead_letters(1000)
        for letter in letters:
            _say(
                f"{letter.entry_id}  {letter.died_at:%Y-%m-%d %H:%M:%S}  {letter.task}  "
                f"{letter.job_id}  {letter.error_type}: {letter.error_message}"
            )
        _say(f"{len(letters)} dead letter(s)")
        return 0

    return _run(target, act, backend)
