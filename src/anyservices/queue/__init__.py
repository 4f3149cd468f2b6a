"""A typed job queue on Redis Streams, for asyncio, trio and sync code."""

from __future__ import annotations

from .._core._public import mark_public
from ._config import QueueConfig as QueueConfig
from ._config import Retry as Retry
from ._errors import JobAbortedError as JobAbortedError
from ._errors import JobFailedError as JobFailedError
from ._errors import JobNotFoundError as JobNotFoundError
from ._errors import QueueDataError as QueueDataError
from ._errors import QueueError as QueueError
from ._errors import QueueTimeoutError as QueueTimeoutError
from ._events import JobEvents as JobEvents
from ._handle import JobHandle as JobHandle
from ._periodic import Periodic as Periodic
from ._service import QueueService as QueueService
from ._statistics import QueueHealth as QueueHealth
from ._statistics import QueueStatistics as QueueStatistics
from ._statistics import WorkerStatistics as WorkerStatistics
from ._sync import SyncJobEvents as SyncJobEvents
from ._sync import SyncQueueService as SyncQueueService
from ._sync import SyncTaskDecorator as SyncTaskDecorator
from ._sync_extras import SyncJobHandle as SyncJobHandle
from ._sync_extras import SyncTask as SyncTask
from ._task import JobContext as JobContext
from ._task import Task as Task
from ._types import DeadLetter as DeadLetter
from ._types import JobEvent as JobEvent
from ._types import JobInfo as JobInfo
from ._types import JobState as JobState
from ._worker import Worker as Worker

__all__ = (
    "DeadLetter",
    "JobAbortedError",
    "JobContext",
    "JobEvent",
    "JobEvents",
    "JobFailedError",
    "JobHandle",
    "JobInfo",
    "JobNotFoundError",
    "JobState",
    "Periodic",
    "QueueConfig",
    "QueueDataError",
    "QueueError",
    "QueueHealth",
    "QueueService",
    "QueueStatistics",
    "QueueTimeoutError",
    "Retry",
    "SyncJobEvents",
    "SyncJobHandle",
    "SyncQueueService",
    "SyncTask",
    "SyncTaskDecorator",
    "Task",
    "Worker",
    "WorkerStatistics",
)


mark_public(__name__, globals(), __all__)
