"""Redis errors, and the one place server error replies become exceptions.

RedisError (AnyServicesError)
├── RedisConnectError        (ConnectError)         cannot connect, or the connection broke
├── RedisTimeoutError        (ServiceTimeoutError)  socket_timeout / connect timeout expired
├── RedisAuthenticationError (AuthenticationError)  WRONGPASS, NOAUTH
├── RedisPermissionError     (PermissionDeniedError) NOPERM
├── RedisResponseError       (CommandError)         any other error reply (.code: WRONGTYPE...)
├── RedisWatchError          (ConflictError)        EXEC aborted because a WATCHed key changed
└── RedisDataError           (DataError)            a value could not be encoded or decoded
"""

from __future__ import annotations

from .._core._errors import (
    AnyServicesError,
    AuthenticationError,
    CommandError,
    ConflictError,
    ConnectError,
    DataError,
    PermissionDeniedError,
    ServiceTimeoutError,
)

__all__ = (
    "RedisAuthenticationError",
    "RedisConnectError",
    "RedisDataError",
    "RedisError",
    "RedisPermissionError",
    "RedisResponseError",
    "RedisTimeoutError",
    "RedisWatchError",
    "response_error",
)


class RedisError(AnyServicesError):
    """Base of every Redis error."""


class RedisConnectError(RedisError, ConnectError):
    """The server could not be reached, or the connection broke mid-call."""


class RedisTimeoutError(RedisError, ServiceTimeoutError):
    """A timeout from RedisConfig expired."""


class RedisAuthenticationError(RedisError, AuthenticationError):
    """The server refused the username or password."""


class RedisPermissionError(RedisError, PermissionDeniedError):
    """The ACL user may not run this command or touch this key."""


class RedisResponseError(RedisError, CommandError):
    """The server answered with an error reply; ``code`` is its first word (``WRONGTYPE``)."""

    @property
    def code(self) -> str:
        return self.message.split(" ", 1)[0]


class RedisWatchError(RedisError, ConflictError):
    """A transaction was aborted because a watched key changed."""


class RedisDataError(RedisError, DataError):
    """A value could not be encoded for Redis or decoded from it."""


def response_error(message: str, command: str | None = None) -> RedisError:
    """The most specific error for a server error reply (the mapping boundary)."""
    code = message.split(" ", 1)[0]
    kind: type[RedisError]
    if code in {"WRONGPASS", "NOAUTH"} or message.startswith("ERR invalid password"):
        kind = RedisAuthenticationError
    elif code == "NOPERM":
        kind = RedisPermissionError
    else:
        kind = RedisResponseError
    return kind(message, service="redis", operation=command)
