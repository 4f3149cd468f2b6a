"""The exceptions every service raises.

Each service maps its driver's errors to these at one boundary, choosing the most
specific class. Service packages subclass them (``RedisError`` and friends), so a
caller can catch by kind (``NotFoundError``) or by service (``RedisError``)::

    AnyServicesError
    ├── ConfigurationError       settings that fail at run time (pydantic reports bad fields)
    ├── ServiceClosedError       the service was used outside ``async with`` / after ``aclose()``
    ├── SyncFaceInLoopError      a sync face was called where it would block an event loop
    ├── ConnectError             the server could not be reached, or the connection was lost
    ├── ServiceTimeoutError      a timeout set in the config expired (also a TimeoutError)
    ├── AuthenticationError      the server refused the credentials or the request signature
    ├── PermissionDeniedError    authenticated, but not allowed to do this
    ├── NotFoundError            no such key, document, bucket or object
    ├── ConflictError            a uniqueness or precondition conflict (duplicate key, ...)
    ├── CommandError             the server rejected the operation for another reason
    ├── DataError                data could not be encoded, decoded or validated
    └── CircuitOpenError         a circuit breaker refuses calls for now

Errors carry context (``service``, ``operation``, ``resource``) but never secrets.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = (
    "AnyServicesError",
    "AuthenticationError",
    "CircuitOpenError",
    "CommandError",
    "ConfigurationError",
    "ConflictError",
    "ConnectError",
    "DataError",
    "NotFoundError",
    "PermissionDeniedError",
    "ServiceClosedError",
    "ServiceTimeoutError",
    "SyncFaceInLoopError",
)


class AnyServicesError(Exception):
    """Base class of every error raised by anyservices.

    ``service`` names the service ("redis", "mongo", ...), ``operation`` the call
    (``"GET"``, ``"insert_one"``), ``resource`` what it touched (a key, a bucket).
    A service's error classes carry their service's name in ``service_name``, which
    ``service`` defaults to.
    """

    #: The service whose errors this class and its subclasses are (set per service).
    service_name: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        operation: str | None = None,
        resource: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service if service is not None else self.service_name
        self.operation = operation
        self.resource = resource

    def __str__(self) -> str:
        context = [
            f"{name}={value!r}"
            for name, value in (
                ("service", self.service),
                ("operation", self.operation),
                ("resource", self.resource),
            )
            if value is not None
        ]
        if not context:
            return self.message
        return f"{self.message} ({', '.join(context)})"

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the keyword context when pickled (e.g. across worker processes).
        return (_rebuild, (type(self), self.message, self.service, self.operation, self.resource))


def _rebuild(
    cls: type[AnyServicesError],
    message: str,
    service: str | None,
    operation: str | None,
    resource: str | None,
) -> AnyServicesError:
    return cls(message, service=service, operation=operation, resource=resource)


class ConfigurationError(AnyServicesError):
    """Settings that validated alone but do not work together or at run time."""


class ServiceClosedError(AnyServicesError):
    """The service is not open: enter it with ``async with`` first, and not after it closed."""


class SyncFaceInLoopError(AnyServicesError, RuntimeError):
    """A sync face was called from a thread running an event loop, which it would block.

    Use the async face there (``await service.get(...)``), or make the sync call from a
    worker thread (``anyio.to_thread.run_sync``).
    """


class ConnectError(AnyServicesError):
    """The server could not be reached, or the connection broke mid-call."""


class ServiceTimeoutError(AnyServicesError, TimeoutError):
    """A timeout set in the service's config expired (caller deadlines raise ``TimeoutError``)."""


class AuthenticationError(AnyServicesError):
    """The server refused the credentials or the request signature."""


class PermissionDeniedError(AnyServicesError):
    """The credentials are valid but do not allow this operation."""


class NotFoundError(AnyServicesError):
    """The key, document, bucket or object does not exist."""


class ConflictError(AnyServicesError):
    """A uniqueness or precondition conflict: duplicate key, existing bucket, failed WATCH."""


class CommandError(AnyServicesError):
    """The server rejected the operation for a reason no narrower class names."""


class DataError(AnyServicesError):
    """Data could not be encoded, decoded or validated (the message names the field)."""


class CircuitOpenError(AnyServicesError):
    """A circuit breaker is open: calls fail fast until its cool-down ends."""
