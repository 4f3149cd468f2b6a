"""Tasks: a typed function the workers run, with its payload and result codecs."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar, Unpack, overload

import anyio.from_thread
import anyio.to_thread
from pydantic import TypeAdapter

from ._config import Retry
from ._errors import map_errors

if TYPE_CHECKING:
    from datetime import datetime

    from ._handle import JobHandle
    from ._service import QueueService

__all__ = ("EnqueueOptions", "JobContext", "Task", "TaskDecorator", "decode", "encode")

P = TypeVar("P")
R = TypeVar("R")
T = TypeVar("T")

_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def encode(adapter: TypeAdapter[T], value: T, what: str, resource: str) -> str:
    """Validate ``value`` and encode it as JSON (QueueDataError names a bad field)."""
    with map_errors(what, operation="encode", resource=resource):
        return adapter.dump_json(adapter.validate_python(value)).decode()


def decode(adapter: TypeAdapter[T], raw: str, what: str, resource: str) -> T:
    """Decode and validate JSON (QueueDataError names a bad field)."""
    with map_errors(what, operation="decode", resource=resource):
        return adapter.validate_json(raw)


class EnqueueOptions(TypedDict, total=False):
    """The options of ``enqueue`` (see ``QueueService.enqueue``)."""

    delay: float | None
    at: datetime | None
    job_id: str | None
    unique_key: str | None
    priority: int | None


class JobContext:
    """What a running task knows about its job: ``job_id``, ``attempt``, ``progress()``."""

    def __init__(
        self, job_id: str, task: str, attempt: int, report: Callable[[float, str], Awaitable[None]]
    ) -> None:
        self.job_id = job_id
        self.task = task
        #: 1 on the first run, 2 on the first retry, ...
        self.attempt = attempt
        self._report = report

    def __repr__(self) -> str:
        return f"<JobContext {self.task} {self.job_id} attempt {self.attempt}>"

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Record how far the job is (0.0 to 1.0) and publish it as a JobEvent."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be between 0.0 and 1.0")
        await self._report(fraction, message or "")

    def progress_sync(self, fraction: float, message: str | None = None) -> None:
        """``progress()`` for a plain-function task (it runs in a worker thread)."""
        anyio.from_thread.run(self.progress, fraction, message)


class Task(Generic[P, R]):
    """A function registered with ``@queue.task(...)``; ``await task.enqueue(payload)``."""

    def __init__(
        self,
        queue: QueueService,
        func: Callable[[JobContext, P], Awaitable[R]] | Callable[[JobContext, P], R],
        *,
        name: str,
        retry: Retry | None,
        timeout: float | None,
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        self.queue = queue
        self.func = func
        self.name = name
        self.retry = retry if retry is not None else queue.config.retry
        self.timeout = timeout
        self.is_async = inspect.iscoroutinefunction(func)
        hints = typing.get_type_hints(func)
        parameters = list(inspect.signature(func).parameters)
        if len(parameters) != 2:  # noqa: PLR2004 -- (ctx, payload)
            raise TypeError(f"task {name!r} must take (ctx, payload), not {parameters}")
        self.payload_adapter: TypeAdapter[P] = _adapter(hints.get(parameters[1]))
        self.result_adapter: TypeAdapter[R] = _adapter(hints.get("return"))

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def encode_payload(self, payload: P) -> str:
        return encode(self.payload_adapter, payload, f"the payload of {self.name}", self.name)

    def decode_payload(self, raw: str) -> P:
        return decode(self.payload_adapter, raw, f"the payload of {self.name}", self.name)

    def encode_result(self, result: R) -> str:
        return encode(self.result_adapter, result, f"the result of {self.name}", self.name)

    async def run(self, ctx: JobContext, payload: P, limiter: anyio.CapacityLimiter) -> R:
        """Call the function: awaited if async, in a worker thread under ``limiter`` if plain."""
        if self.is_async:
            return await typing.cast("Callable[[JobContext, P], Awaitable[R]]", self.func)(
                ctx, payload
            )
        func = typing.cast("Callable[[JobContext, P], R]", self.func)
        return await anyio.to_thread.run_sync(func, ctx, payload, limiter=limiter)

    async def enqueue(self, payload: P, **options: Unpack[EnqueueOptions]) -> JobHandle[R]:
        """``queue.enqueue(task, payload, **options)``."""
        return await self.queue.enqueue(self, payload, **options)


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return _ANY if annotation is None else TypeAdapter(annotation)


class TaskDecorator:
    """What ``queue.task(...)`` returns: decorates an async or a plain function."""

    def __init__(
        self, queue: QueueService, name: str | None, retry: Retry | None, timeout: float | None
    ) -> None:
        self._queue = queue
        self._name = name
        self._retry = retry
        self._timeout = timeout

    @overload
    def __call__(self, func: Callable[[JobContext, P], Awaitable[R]], /) -> Task[P, R]: ...
    @overload
    def __call__(self, func: Callable[[JobContext, P], R], /) -> Task[P, R]: ...
    def __call__(
        self, func: Callable[[JobContext, P], Awaitable[R]] | Callable[[JobContext, P], R], /
    ) -> Task[P, R]:
        name = self._name or f"{func.__module__}.{func.__qualname__}"
        task: Task[P, R] = Task(
            self._queue, func, name=name, retry=self._retry, timeout=self._timeout
        )
        self._queue.register(task)
        return task
