"""Queue errors, and the one place validation errors become ours.

QueueError (AnyServicesError)
├── QueueDataError     (DataError)            a payload or result does not validate / encode
├── QueueTimeoutError  (ServiceTimeoutError)  ``result(timeout=...)`` passed
├── JobNotFoundError   (NotFoundError)        no such job (never queued, or its result expired)
├── JobFailedError                            the job failed for good (error_type, error_message,
│                                             attempts), or went to the dead-letter stream
└── JobAbortedError                           the job was aborted

Redis errors (``RedisError``) pass through unchanged: they are ours already.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from .._core._errors import AnyServicesError, DataError, NotFoundError, ServiceTimeoutError

__all__ = (
    "JobAbortedError",
    "JobFailedError",
    "JobNotFoundError",
    "QueueDataError",
    "QueueError",
    "QueueTimeoutError",
    "map_errors",
)


class QueueError(AnyServicesError):
    """Base of every queue error."""


class QueueDataError(QueueError, DataError):
    """A payload or result could not be encoded or validated (the message names the field)."""


class QueueTimeoutError(QueueError, ServiceTimeoutError):
    """The job did not finish within the ``timeout`` given to ``result()``."""


class JobNotFoundError(QueueError, NotFoundError):
    """No such job: never queued, or finished longer than ``result_ttl_seconds`` ago."""


class JobFailedError(QueueError):
    """The job failed for good; ``error_type``/``error_message`` say how, after ``attempts``."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        error_message: str,
        attempts: int,
        resource: str | None = None,
    ) -> None:
        super().__init__(message, service="queue", operation="result", resource=resource)
        self.error_type = error_type
        self.error_message = error_message
        self.attempts = attempts

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_failed,
            (self.message, self.error_type, self.error_message, self.attempts, self.resource),
        )


def _rebuild_failed(
    message: str, error_type: str, error_message: str, attempts: int, resource: str | None
) -> JobFailedError:
    return JobFailedError(
        message,
        error_type=error_type,
        error_message=error_message,
        attempts=attempts,
        resource=resource,
    )


class JobAbortedError(QueueError):
    """The job was aborted before it finished."""


@contextmanager
def map_errors(
    what: str, *, operation: str, resource: str | None = None
) -> Generator[None, None, None]:
    """Turn pydantic's validation and serialisation errors into ``QueueDataError``.

    The message names the bad fields, never their values (a payload may hold secrets).
    """
    try:
        yield
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(root)" for e in exc.errors())
        raise QueueDataError(
            f"{what} is not valid (bad fields: {fields})",
            service="queue",
            operation=operation,
            resource=resource,
        ) from None
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise QueueDataError(
            f"{what} cannot be encoded as JSON ({type(exc).__name__})",
            service="queue",
            operation=operation,
            resource=resource,
        ) from None
