"""Periodic jobs: a task enqueued on a cron schedule or every N seconds.

Every worker of the queue computes the same ticks (instants on the wall clock) and,
at each one, runs a script that enqueues the tick's job only if no worker fired this
tick or a later one: each tick runs once across workers, whatever their number. A
tick that passes while no worker runs is skipped, not caught up.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from croniter import croniter

    from ._task import Task

__all__ = ("Periodic",)

P = TypeVar("P")


class Periodic(Generic[P]):
    """One schedule of one task (``queue.periodic(...)`` makes it).

    ``every`` (seconds or a timedelta) fires at the multiples of that interval since
    the epoch; ``cron`` takes a cron expression (5 fields, or 6 with seconds last,
    parsed by croniter, in UTC). The job of the tick at ``T`` has the id
    ``<name>@<T in ms>``.
    """

    def __init__(
        self,
        task: Task[P, Any],
        payload: P,
        *,
        cron: str | None = None,
        every: float | timedelta | None = None,
        name: str | None = None,
        priority: int = 0,
    ) -> None:
        if (cron is None) == (every is None):
            raise ValueError("give cron or every, not both or neither")
        self.task = task
        self.name = name or task.name
        self.payload = task.encode_payload(payload)
        self.priority = priority
        self.cron = cron
        self._every_ms = 0
        if cron is not None:
            self._croniter = _croniter_class()
            if not self._croniter.is_valid(cron):
                raise ValueError(f"cron is not a valid cron expression: {cron!r}")
        if every is not None:
            seconds = every.total_seconds() if isinstance(every, timedelta) else every
            if not seconds >= 0.001:  # noqa: PLR2004 -- ticks are whole milliseconds
                raise ValueError(f"every must be at least 1 ms, not {every!r}")
            self._every_ms = round(seconds * 1000)

    def __repr__(self) -> str:
        when = (
            f"cron {self.cron!r}" if self.cron is not None else f"every {self._every_ms / 1000:g} s"
        )
        return f"<Periodic {self.name} ({self.task.name}) {when}>"

    def next_tick(self, after_ms: int) -> int:
        """The first tick strictly after ``after_ms`` (ms since the epoch)."""
        if self.cron is None:
            return (after_ms // self._every_ms + 1) * self._every_ms
        start = datetime.fromtimestamp(after_ms / 1000, UTC)
        following: float = self._croniter(self.cron, start).get_next(float)
        return math.ceil(following * 1000)  # croniter's next is strictly after its start

    def job_id(self, tick_ms: int) -> str:
        return f"{self.name}@{tick_ms}"


def _croniter_class() -> type[croniter]:
    try:
        from croniter import croniter  # noqa: PLC0415 -- an optional dependency
    except ImportError:
        raise ImportError("cron schedules need croniter: pip install 'anyservices[cron]'") from None
    return croniter
