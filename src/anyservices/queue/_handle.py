"""JobHandle: follow one job to its result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import TypeAdapter

if TYPE_CHECKING:
    from ._service import QueueService
    from ._types import JobInfo

__all__ = ("JobHandle",)

R = TypeVar("R")


class JobHandle(Generic[R]):
    """One job: ``await handle.result()``, ``info()``, ``abort()``.

    Returned by ``enqueue``, or made again from an id with ``queue.handle(job_id, type)``.
    """

    def __init__(self, queue: QueueService, job_id: str, result_adapter: TypeAdapter[R]) -> None:
        self._queue = queue
        self._id = job_id
        self._adapter = result_adapter

    def __repr__(self) -> str:
        return f"<JobHandle {self._id} on {self._queue.config.name}>"

    @property
    def id(self) -> str:
        return self._id

    async def result(self, timeout: float | None = None) -> R:  # noqa: ASYNC109 -- the contract's name
        """The job's result, once it succeeds.

        Raises ``JobFailedError`` (failed for good, or dead-lettered), ``JobAbortedError``,
        ``JobNotFoundError``, or ``QueueTimeoutError`` when ``timeout`` seconds pass first.
        """
        return await self._queue._wait_result(self._id, self._adapter, timeout)  # noqa: SLF001

    async def info(self) -> JobInfo:
        """The job's state, attempts, times, progress and last error."""
        return await self._queue.info(self._id)

    async def abort(self) -> bool:
        """Abort the job: at once if it waits, promptly if it runs (its cancel scope is
        cancelled). False when it had already finished."""
        return await self._queue.abort(self._id)
