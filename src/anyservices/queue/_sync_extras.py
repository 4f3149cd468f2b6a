"""What the generator cannot derive: the generic ``SyncJobHandle[R]``, and the methods of
``SyncQueueService`` that return one."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .._core._syncface import SyncFace
from ._handle import JobHandle
from ._task import Task

if TYPE_CHECKING:
    from .._core._portal import Portal
    from ._service import QueueService
    from ._types import JobInfo

__all__ = ("SyncJobHandle", "SyncQueueExtras")

P = TypeVar("P")
R = TypeVar("R")


class SyncJobHandle(SyncFace[JobHandle[R]]):
    """The sync face of :class:`anyservices.queue.JobHandle`."""

    @property
    def id(self) -> str:
        return self._wrapped.id

    def result(self, timeout: float | None = None) -> R:
        """The job's result, once it succeeds (see ``JobHandle.result``)."""
        return self._portal.call(self._wrapped.result, timeout)

    def info(self) -> JobInfo:
        return self._portal.call(self._wrapped.info)

    def abort(self) -> bool:
        return self._portal.call(self._wrapped.abort)


class SyncQueueExtras:
    """Mixed into the generated ``SyncQueueService``."""

    _portal: Portal
    _wrapped: QueueService

    @overload
    def enqueue(
        self,
        task: Task[P, R],
        payload: P,
        *,
        delay: float | None = None,
        at: datetime | None = None,
        job_id: str | None = None,
        unique_key: str | None = None,
        priority: int | None = None,
    ) -> SyncJobHandle[R]: ...
    @overload
    def enqueue(
        self,
        task: str,
        payload: Any,
        *,
        delay: float | None = None,
        at: datetime | None = None,
        job_id: str | None = None,
        unique_key: str | None = None,
        priority: int | None = None,
        result_type: type[R],
    ) -> SyncJobHandle[R]: ...
    @overload
    def enqueue(
        self,
        task: str,
        payload: Any,
        *,
        delay: float | None = None,
        at: datetime | None = None,
        job_id: str | None = None,
        unique_key: str | None = None,
        priority: int | None = None,
    ) -> SyncJobHandle[Any]: ...
    def enqueue(
        self,
        task: Task[Any, Any] | str,
        payload: Any,
        *,
        delay: float | None = None,
        at: datetime | None = None,
        job_id: str | None = None,
        unique_key: str | None = None,
        priority: int | None = None,
        result_type: type[Any] | None = None,
    ) -> SyncJobHandle[Any]:
        """Queue a job; returns its handle (see ``QueueService.enqueue``)."""
        wrapped: Any = self._wrapped
        handle: JobHandle[Any] = self._portal.call(
            wrapped.enqueue,
            task,
            payload,
            delay=delay,
            at=at,
            job_id=job_id,
            unique_key=unique_key,
            priority=priority,
            result_type=result_type,
        )
        return SyncJobHandle(self._portal, handle)

    @overload
    def handle(self, job_id: str) -> SyncJobHandle[Any]: ...
    @overload
    def handle(self, job_id: str, result_type: type[R]) -> SyncJobHandle[R]: ...
    def handle(self, job_id: str, result_type: type[Any] | None = None) -> SyncJobHandle[Any]:
        """The handle of a job enqueued earlier (see ``QueueService.handle``)."""
        return SyncJobHandle(self._portal, self._wrapped.handle(job_id, result_type))  # type: ignore[arg-type]
