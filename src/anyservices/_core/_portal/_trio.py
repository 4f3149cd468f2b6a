"""The portal's serve loop on trio."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    import anyio

    from ._call import WorkerBody
    from ._portal import Portal

__all__ = ("serve",)


async def serve(portal: Portal, ready: threading.Event, stopped: anyio.Event) -> None:
    """Serve ``portal`` until ``stopped``; then cancel every worker task."""

    async def worker(body: WorkerBody) -> None:
        with trio.CancelScope() as scope:
            await body(scope)

    async with trio.open_nursery() as nursery:
        portal._serving(  # noqa: SLF001
            threadsafe=trio.lowlevel.current_trio_token().run_sync_soon,
            spawn=lambda body: nursery.start_soon(worker, body),
            sleep=trio.sleep,
        )
        ready.set()
        try:
            await stopped.wait()
        finally:
            portal._stopping()  # noqa: SLF001
            nursery.cancel_scope.cancel()
