"""Trio's one-shot waiter (see ``_waiter``): the waiting task, rescheduled once."""

from __future__ import annotations

import trio

__all__ = ("TrioWaiter",)


class TrioWaiter:
    __slots__ = ("_task",)

    def __init__(self) -> None:
        self._task: trio.lowlevel.Task | None = None

    def set(self) -> None:
        task, self._task = self._task, None
        if task is not None:  # None: its wait was cancelled
            trio.lowlevel.reschedule(task)

    async def wait(self) -> None:
        self._task = trio.lowlevel.current_task()
        await trio.lowlevel.wait_task_rescheduled(self._abort)

    def _abort(self, _: object) -> trio.lowlevel.Abort:
        self._task = None
        return trio.lowlevel.Abort.SUCCEEDED
