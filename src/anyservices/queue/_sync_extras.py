"""What the generator cannot derive: the generic faces ``SyncJobHandle[R]`` and
``SyncTask[P, R]``, the overloads that return them, and the methods taking a task
(a ``SyncTask`` is handed on as the ``Task`` it faces)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, Unpack, cast, overload

from .._core._syncface import SyncFace
from ._handle import JobHandle
from ._task import Task

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import timedelta

    from .._core._portal import Portal
    from ._periodic import Periodic
    from ._service import QueueService
    from ._task import EnqueueOptions, JobContext, TaskDecorator
    from ._types import JobInfo

__all__ = ("SyncJobHandle", "SyncQueueExtras", "SyncTask", "SyncTaskDecoratorExtras")

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


class SyncTask(SyncFace[Task[P, R]]):
    """The sync face of :class:`anyservices.queue.Task`: ``task.enqueue(payload)``."""

    @property
    def name(self) -> str:
        return self._wrapped.name

    def enqueue(self, payload: P, **options: Unpack[EnqueueOptions]) -> SyncJobHandle[R]:
        """``queue.enqueue(task, payload, **options)``."""
        return SyncJobHandle(
            self._portal, self._portal.call(self._wrapped.enqueue, payload, **options)
        )


def _task(task: Task[P, R] | SyncTask[P, R]) -> Task[P, R]:
    return task._wrapped if isinstance(task, SyncTask) else task  # noqa: SLF001


class SyncTaskDecoratorExtras:
    """Mixed into the generated ``SyncTaskDecorator``: decorating gives a ``SyncTask``."""

    _portal: Portal
    _wrapped: TaskDecorator

    @overload
    def __call__(self, func: Callable[[JobContext, P], Awaitable[R]], /) -> SyncTask[P, R]: ...
    @overload
    def __call__(self, func: Callable[[JobContext, P], R], /) -> SyncTask[P, R]: ...
    def __call__(
        self, func: Callable[[JobContext, P], Awaitable[R]] | Callable[[JobContext, P], R], /
    ) -> SyncTask[P, R]:
        task = cast("Task[P, R]", self._wrapped(func))  # R: what the awaitable gives
        return SyncTask(self._portal, task)


class SyncQueueExtras:
    """Mixed into the generated ``SyncQueueService``."""

    _portal: Portal
    _wrapped: QueueService

    @overload
    def enqueue(
        self, task: Task[P, R] | SyncTask[P, R], payload: P, **options: Unpack[EnqueueOptions]
    ) -> SyncJobHandle[R]: ...
    @overload
    def enqueue(
        self, task: str, payload: Any, *, result_type: type[R], **options: Unpack[EnqueueOptions]
    ) -> SyncJobHandle[R]: ...
    @overload
    def enqueue(
        self, task: str, payload: Any, **options: Unpack[EnqueueOptions]
    ) -> SyncJobHandle[Any]: ...
    def enqueue(
        self,
        task: Task[Any, Any] | SyncTask[Any, Any] | str,
        payload: Any,
        *,
        result_type: type[Any] | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> SyncJobHandle[Any]:
        """Queue a job; returns its handle (see ``QueueService.enqueue``)."""
        wrapped: Any = self._wrapped
        target = task if isinstance(task, str) else _task(task)

        async def enqueue() -> JobHandle[Any]:
            handle: JobHandle[Any] = await wrapped.enqueue(
                target, payload, result_type=result_type, **options
            )
            return handle

        return SyncJobHandle(self._portal, self._portal.call(enqueue))

    @overload
    def handle(self, job_id: str) -> SyncJobHandle[Any]: ...
    @overload
    def handle(self, job_id: str, result_type: type[R]) -> SyncJobHandle[R]: ...
    def handle(self, job_id: str, result_type: type[Any] | None = None) -> SyncJobHandle[Any]:
        """The handle of a job enqueued earlier (see ``QueueService.handle``)."""
        handle: JobHandle[Any] = self._wrapped.handle(job_id, result_type)  # type: ignore[arg-type]
        return SyncJobHandle(self._portal, handle)

    def periodic(
        self,
        task: Task[P, Any] | SyncTask[P, Any],
        payload: P,
        *,
        cron: str | None = None,
        every: float | timedelta | None = None,
        name: str | None = None,
        priority: int | None = None,
    ) -> Periodic[P]:
        """Enqueue ``task(payload)`` on a schedule (see ``QueueService.periodic``)."""
        return self._wrapped.periodic(
            _task(task), payload, cron=cron, every=every, name=name, priority=priority
        )
