"""The data the queue hands out: job states, job info, events and dead letters."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

__all__ = ("TERMINAL", "DeadLetter", "JobEvent", "JobInfo", "JobState", "from_ms")


class JobState(enum.StrEnum):
    QUEUED = "queued"
    DELAYED = "delayed"  # scheduled for later, or waiting to be retried
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"  # in the dead-letter stream
    ABORTED = "aborted"


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.DEAD, JobState.ABORTED})


class JobEvent(BaseModel):
    """One state change of one job, as published on the queue's ``job_events`` channel."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    task: str
    state: JobState
    attempt: int = 0
    progress: float | None = None
    message: str | None = None
    error: str | None = None
    at: datetime


@dataclass(frozen=True)
class JobInfo:
    """Where a job stands (``JobHandle.info()``); times are UTC."""

    job_id: str
    task: str
    state: JobState
    attempts: int
    priority: int
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    due_at: datetime | None
    progress: float | None
    progress_message: str | None
    error_type: str | None
    error_message: str | None


@dataclass(frozen=True)
class DeadLetter:
    """A job in the dead-letter stream; ``entry_id`` names it for ``requeue_dead``."""

    entry_id: str
    job_id: str
    task: str
    payload: str
    error_type: str
    error_message: str
    attempts: int
    died_at: datetime


def from_ms(value: str | None) -> datetime | None:
    """A datetime from milliseconds since the epoch (as the scripts store them)."""
    return None if value is None else datetime.fromtimestamp(int(value) / 1000, UTC)
