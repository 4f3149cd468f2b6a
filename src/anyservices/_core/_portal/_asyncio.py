"""The portal's serve loop on asyncio."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from ._call import WorkerBody
    from ._portal import Portal

__all__ = ("serve",)


async def serve(portal: Portal, ready: threading.Event, stopped: anyio.Event) -> None:
    """Serve ``portal`` until ``stopped``; then cancel every worker task and wait for it."""
    loop = asyncio.get_running_loop()
    workers: set[asyncio.Task[None]] = set()  # strong references: asyncio keeps weak ones

    async def worker(body: WorkerBody) -> None:
        # A caller that gives up cancels this scope, not the task: Task.cancel() would
        # pierce the shields inside the call (a lock's SET NX that must complete).
        with anyio.CancelScope() as scope:
            await body(scope)

    def spawn(body: WorkerBody) -> None:
        task = loop.create_task(worker(body))
        workers.add(task)
        task.add_done_callback(workers.discard)

    portal._serving(threadsafe=loop.call_soon_threadsafe, spawn=spawn, sleep=asyncio.sleep)  # noqa: SLF001
    ready.set()
    try:
        await stopped.wait()
    finally:
        portal._stopping()  # noqa: SLF001
        while workers:
            for task in workers:
                task.cancel()
            await asyncio.wait(set(workers))
