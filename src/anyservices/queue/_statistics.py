"""The queue's and the worker's frozen statistics."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("QueueHealth", "QueueStatistics", "WorkerStatistics")


@dataclass(frozen=True)
class QueueStatistics:
    """What this process did with the queue (``QueueService.statistics()``, no I/O)."""

    enqueued: int
    deduplicated: int
    aborts_requested: int


@dataclass(frozen=True)
class QueueHealth:
    """The queue as Redis sees it (``await QueueService.health()``).

    ``waiting``: jobs in the streams no worker has taken; ``running``: taken and not
    finished; ``oldest_pending_seconds``: age of the oldest of those (waiting or
    running); ``delayed``: scheduled, or waiting for a retry; ``delayed_lag_seconds``:
    how overdue the most overdue of those is (0 when none is due); ``dead_letters``;
    ``live_workers``: workers that renewed their leases within ``lease_seconds``.
    """

    waiting: int
    running: int
    oldest_pending_seconds: float
    delayed: int
    delayed_lag_seconds: float
    dead_letters: int
    live_workers: int


@dataclass(frozen=True)
class WorkerStatistics:
    """What one worker has done since it started."""

    running: int
    started: int
    succeeded: int
    failed: int
    retried: int
    aborted: int
    dead: int
    released: int
    lost: int
    #: Periodic ticks this worker enqueued (each tick is fired by one worker).
    fired: int
