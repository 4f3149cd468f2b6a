"""A one-shot wake-up for one task: what a Redis request's caller waits on.

``anyio.Event`` wraps the backend's event, which wraps a future (asyncio) or a parking
lot (trio), and serves any number of waiters. A request has one waiter, which makes it
right before it waits, and is finished once: the backend's bare primitive does, an
asyncio future (here) or trio's ``reschedule`` (``_waiter_trio``, imported under trio
only). With 64 callers on one connection the events took about a quarter of the
client's time (cProfile).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Protocol

__all__ = ("AsyncioWaiter", "Waiter", "waiter_class")


class Waiter(Protocol):
    """Made by the task that waits on it, right before it waits (once)."""

    def set(self) -> None: ...

    async def wait(self) -> None: ...


class AsyncioWaiter:
    __slots__ = ("_future",)

    def __init__(self) -> None:
        self._future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def set(self) -> None:
        if not self._future.done():  # a cancelled wait cancelled the future
            self._future.set_result(None)

    async def wait(self) -> None:
        await self._future


def waiter_class() -> type[Waiter]:
    """The waiter of the event loop running here (ask in the loop, once per user)."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:  # trio is imported, but this is not its loop
            return AsyncioWaiter
        from ._waiter_trio import TrioWaiter  # noqa: PLC0415 -- imports trio: under trio only

        return TrioWaiter
    return AsyncioWaiter
