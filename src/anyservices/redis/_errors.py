"""Redis errors, and the one place server error replies become exceptions.

RedisError (AnyServicesError)
├── RedisConnectError        (ConnectError)         cannot connect, or the connection broke
│   └── RedisConnectionLostError                    it broke after the command was sent
│       └── RedisUnconfirmedWriteError              the replicas did not confirm a write
├── RedisTimeoutError        (ServiceTimeoutError)  socket_timeout / connect timeout expired
├── RedisAuthenticationError (AuthenticationError)  WRONGPASS, NOAUTH
├── RedisPermissionError     (PermissionDeniedError) NOPERM
├── RedisResponseError       (CommandError)         any other error reply (.code: WRONGTYPE...)
├── RedisWatchError          (ConflictError)        EXEC aborted because a WATCHed key changed
├── RedisDataError           (DataError)            a value could not be encoded or decoded
└── RedisLockError           (ConflictError)        a lock not acquired in time, or lost
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
    "RedisUnconfirmedWriteError",
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


# -- Redis Cluster (redis/_cluster.py) ------------------------------------------------


class RedisCrossSlotError(RedisError, CommandError):
    """An atomic operation (transaction, script, WATCH) names keys of different cluster slots.

    Raised before anything is sent; build such keys with ``hash_tag()``.
    """


class RedisRedirectError(RedisError, ConnectError):
    """The cluster kept redirecting (MOVED, ASK) or stayed down past ``cluster_retry_timeout``.

    ``maybe_executed`` is False when the command is known not to have run.
    """

    maybe_executed: bool = False


class RedisConnectionLostError(RedisConnectError):
    """A cluster node's connection broke after the command was sent: it may have run.

    Writes are never resent (so never applied twice); ``maybe_executed`` is True.
    """

    maybe_executed: bool = True


class RedisUnconfirmedWriteError(RedisConnectionLostError):
    """A write ran on the master, but fewer replicas than ``sentinel_wait_replicas``
    confirmed it within ``sentinel_wait_timeout``: a failover may lose it. Never resent."""


class RedisLockError(RedisError, ConflictError):
    """A lock (``RedisService.lock``) was not acquired in time, or was lost before release.

    Exported as ``LockError`` too, its name before it joined the tree.
    """
