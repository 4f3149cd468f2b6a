"""MongoService errors, and the one place PyMongo's exceptions become ours.

::

    MongoError(AnyServicesError)
    ├── MongoConnectError(MongoError, ConnectError)        no server selected, connection lost
    ├── MongoTimeoutError(MongoError, ServiceTimeoutError)  timeout_ms, a caller deadline, sockets
    ├── MongoAuthenticationError(MongoError, AuthenticationError)
    ├── MongoPermissionDeniedError(MongoError, PermissionDeniedError)
    ├── MongoDuplicateKeyError(MongoError, ConflictError)   ``.key`` is the duplicated key
    ├── MongoCommandError(MongoError, CommandError)         ``.code``: any other server refusal
    ├── MongoConfigurationError(MongoError, ConfigurationError)
    └── MongoDataError(MongoError, DataError)               BSON encoding, model validation

Every error has ``.labels`` (the server's error labels, e.g. ``TransientTransactionError``)
and context: ``operation`` (``"insert_one"``) and ``resource`` (the collection).
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

import bson.errors
import pymongo.errors

from .._core._errors import (
    AnyServicesError,
    AuthenticationError,
    CommandError,
    ConfigurationError,
    ConflictError,
    ConnectError,
    DataError,
    PermissionDeniedError,
    ServiceTimeoutError,
)

__all__ = (
    "DRIVER_ERRORS",
    "MongoAuthenticationError",
    "MongoCommandError",
    "MongoConfigurationError",
    "MongoConnectError",
    "MongoDataError",
    "MongoDuplicateKeyError",
    "MongoError",
    "MongoPermissionDeniedError",
    "MongoTimeoutError",
    "map_error",
    "map_errors",
)

#: What the boundary catches: everything PyMongo and BSON raise, nothing else.
DRIVER_ERRORS = (pymongo.errors.PyMongoError, bson.errors.BSONError)

_LABELS = ("TransientTransactionError", "UnknownTransactionCommitResult", "RetryableWriteError")
_AUTH_CODES = frozenset({18})  # AuthenticationFailed
_PERMISSION_CODES = frozenset({13})  # Unauthorized
_TIMEOUT_CODES = frozenset({50, 262})  # MaxTimeMSExpired, ExceededTimeLimit


class MongoError(AnyServicesError):
    """Base of every MongoService error."""

    def __init__(
        self,
        message: str,
        *,
        service: str | None = "mongo",
        operation: str | None = None,
        resource: str | None = None,
        code: int | None = None,
        labels: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(message, service=service, operation=operation, resource=resource)
        self.code = code
        self.labels = labels

    @property
    def transient(self) -> bool:
        """True when the server says the whole transaction may be retried."""
        return "TransientTransactionError" in self.labels


class MongoConnectError(MongoError, ConnectError):
    """No server could be selected, or the connection broke mid-call."""


class MongoTimeoutError(MongoError, ServiceTimeoutError):
    """``timeout_ms``, a caller deadline passed on to the driver, or a socket timeout expired."""


class MongoAuthenticationError(MongoError, AuthenticationError):
    """The server refused the credentials."""


class MongoPermissionDeniedError(MongoError, PermissionDeniedError):
    """The user may not run this operation."""


class MongoDuplicateKeyError(MongoError, ConflictError):
    """A unique index refused a document; ``key`` is the duplicated key (``{"email": "a@b"}``)."""

    def __init__(self, message: str, *, key: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.key = key or {}


class MongoCommandError(MongoError, CommandError):
    """The server refused the operation for another reason (``code`` says which)."""


class MongoConfigurationError(MongoError, ConfigurationError):
    """The driver refused the settings (a bad URL option, an unknown replica set...)."""


class MongoDataError(MongoError, DataError):
    """A document could not be encoded, or did not validate against its model."""


def _labels(exc: pymongo.errors.PyMongoError) -> frozenset[str]:
    return frozenset(label for label in _LABELS if exc.has_error_label(label))


def _duplicate_key(exc: pymongo.errors.PyMongoError) -> dict[str, Any] | None:
    """The duplicated key of a DuplicateKeyError or of a bulk write's first duplicate."""
    if isinstance(exc, pymongo.errors.DuplicateKeyError):
        details = exc.details or {}
        return dict(details.get("keyValue") or {})
    if isinstance(exc, pymongo.errors.BulkWriteError):
        for error in exc.details.get("writeErrors", []):
            if error.get("code") == 11000:  # noqa: PLR2004 -- DuplicateKey
                return dict(error.get("keyValue") or {})
    return None


# Driver exception classes and what they become, most specific first.
_BY_CLASS: tuple[
    tuple[type[pymongo.errors.PyMongoError] | tuple[type[Any], ...], type[MongoError], str], ...
] = (
    (pymongo.errors.ServerSelectionTimeoutError, MongoConnectError, "no server available: "),
    (
        (pymongo.errors.ExecutionTimeout, pymongo.errors.NetworkTimeout),
        MongoTimeoutError,
        "timed out: ",
    ),
    (pymongo.errors.ConnectionFailure, MongoConnectError, "connection failed: "),  # AutoReconnect
    (
        (pymongo.errors.ConfigurationError, pymongo.errors.InvalidURI),
        MongoConfigurationError,
        "",
    ),
)


def _from_operation_failure(
    exc: pymongo.errors.OperationFailure, context: dict[str, Any]
) -> MongoError:
    code = exc.code
    if code in _AUTH_CODES:
        return MongoAuthenticationError(str(exc), code=code, **context)
    if code in _PERMISSION_CODES:
        return MongoPermissionDeniedError(str(exc), code=code, **context)
    if code in _TIMEOUT_CODES:
        return MongoTimeoutError(str(exc), code=code, **context)
    return MongoCommandError(str(exc), code=code, **context)


def map_error(exc: BaseException, *, operation: str, resource: str | None = None) -> MongoError:
    """PyMongo's exception as ours, most specific first (``raise map_error(e) from e``)."""
    context: dict[str, Any] = {"operation": operation, "resource": resource}
    if isinstance(exc, bson.errors.BSONError):
        return MongoDataError(f"cannot encode the document: {exc}", **context)
    if not isinstance(exc, pymongo.errors.PyMongoError):
        return MongoError(str(exc), **context)
    context["labels"] = _labels(exc)
    key = _duplicate_key(exc)
    if key is not None:
        return MongoDuplicateKeyError(f"duplicate key {key!r}", key=key, code=11000, **context)
    for driver_class, our_class, prefix in _BY_CLASS:
        if isinstance(exc, driver_class):
            return our_class(f"{prefix}{exc}", **context)
    if isinstance(exc, pymongo.errors.OperationFailure):
        return _from_operation_failure(exc, context)
    fallback: type[MongoError] = MongoTimeoutError if exc.timeout else MongoCommandError
    return fallback(f"timed out: {exc}" if exc.timeout else str(exc), **context)


@contextmanager
def map_errors(operation: str, resource: str | None = None) -> Generator[None]:
    """The boundary: PyMongo's and BSON's exceptions raised inside become ``MongoError``."""
    try:
        yield
    except DRIVER_ERRORS as exc:
        raise map_error(exc, operation=operation, resource=resource) from exc
