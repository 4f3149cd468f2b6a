"""MongoService errors, and ``map_errors``: the one place PyMongo's exceptions become ours.

::

    MongoError(AnyServicesError, pymongo.errors.PyMongoError)
    ├── MongoConnectError(MongoError, ConnectError, pymongo.errors.ConnectionFailure)
    │                                    no server selected, connection lost
    ├── MongoTimeoutError(MongoError, ServiceTimeoutError)  timeout_ms, a caller deadline, sockets
    ├── MongoAuthenticationError(MongoError, AuthenticationError, OperationFailure)
    ├── MongoPermissionDeniedError(MongoError, PermissionDeniedError, OperationFailure)
    ├── MongoDuplicateKeyError(MongoError, ConflictError, pymongo.errors.DuplicateKeyError)
    │                                    ``.key`` is the duplicated key
    ├── MongoCommandError(MongoError, CommandError, OperationFailure)
    │                                    ``.code``: any other server refusal
    ├── MongoConfigurationError(MongoError, ConfigurationError, pymongo.errors.ConfigurationError)
    └── MongoDataError(MongoError, DataError)  BSON encoding, model validation

Each class is also the PyMongo exception the driver raised for the same failure, so code
written against PyMongo (``except pymongo.errors.DuplicateKeyError``) keeps working.
Every error has ``.labels`` (the server's error labels, e.g. ``TransientTransactionError``,
also answered by ``has_error_label``), ``.code``, ``.details`` and context: ``operation``
(``"insert_one"``) and ``resource`` (the collection). Messages never quote a document's
values (they may be personal data) nor the URL's credentials.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

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

#: What the boundary maps: everything PyMongo and BSON raise, and the builtin errors the
#: BSON encoder raises for unencodable values (an int beyond 8 bytes, a lone surrogate).
_DRIVER_ERRORS = (pymongo.errors.PyMongoError, bson.errors.BSONError, OverflowError, UnicodeError)

_LABELS = ("TransientTransactionError", "UnknownTransactionCommitResult", "RetryableWriteError")
_AUTH_CODES = frozenset({18})  # AuthenticationFailed
_PERMISSION_CODES = frozenset({13})  # Unauthorized
_TIMEOUT_CODES = frozenset({50, 262})  # MaxTimeMSExpired, ExceededTimeLimit
_DUPLICATE_KEY = 11000


class MongoError(AnyServicesError, pymongo.errors.PyMongoError):
    """Base of every MongoService error (also a ``pymongo.errors.PyMongoError``)."""

    service_name: ClassVar[str | None] = "mongo"

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        operation: str | None = None,
        resource: str | None = None,
        code: int | None = None,
        labels: frozenset[str] = frozenset(),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, service=service, operation=operation, resource=resource)
        self._code = code
        self._details = details
        self.labels = labels
        self._error_labels = set(labels)

    @property
    def code(self) -> int | None:
        """The server's error code, if any."""
        return self._code

    @property
    def details(self) -> Mapping[str, Any] | None:
        """The server's error document, if any."""
        return self._details

    @property
    def transient(self) -> bool:
        """True when the server says the whole transaction may be retried."""
        return "TransientTransactionError" in self.labels


class MongoConnectError(MongoError, ConnectError, pymongo.errors.ConnectionFailure):
    """No server could be selected, or the connection broke mid-call."""


class MongoTimeoutError(MongoError, ServiceTimeoutError):
    """``timeout_ms``, a caller deadline passed on to the driver, or a socket timeout expired."""

    @property
    def timeout(self) -> bool:
        """True: PyMongo's spelling of "this error was caused by a timeout"."""
        return True


class MongoAuthenticationError(MongoError, AuthenticationError, pymongo.errors.OperationFailure):
    """The server refused the credentials."""


class MongoPermissionDeniedError(
    MongoError, PermissionDeniedError, pymongo.errors.OperationFailure
):
    """The user may not run this operation."""


class MongoDuplicateKeyError(MongoError, ConflictError, pymongo.errors.DuplicateKeyError):
    """A unique index refused a document; ``key`` is the duplicated key (``{"email": "a@b"}``)."""

    def __init__(self, message: str, *, key: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.key = key or {}


class MongoCommandError(MongoError, CommandError, pymongo.errors.OperationFailure):
    """The server refused the operation for another reason (``code`` says which)."""


class MongoConfigurationError(MongoError, ConfigurationError, pymongo.errors.ConfigurationError):
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
            if error.get("code") == _DUPLICATE_KEY:
                return dict(error.get("keyValue") or {})
    return None


_TYPE_NAME = re.compile(r"of type: <class '([\w.]+)'>")


# Phrases of InvalidDocument messages, and what we say instead (without the value).
_INVALID_DOCUMENT = (
    ("string keys", "documents must have only string keys"),
    ("NULL byte", "key names must not contain the NULL byte"),
)


def _encode_problem(exc: Exception) -> str:
    """Why a document cannot be stored, naming a type but never quoting a value."""
    if isinstance(exc, OverflowError):
        return "an integer does not fit in 8 bytes (BSON int64)"
    if isinstance(exc, UnicodeError):
        return "a string is not valid UTF-8 (a lone surrogate?)"
    text = str(exc)
    found = _TYPE_NAME.search(text)
    if found is not None:
        return f"a value of type {found[1]} cannot be encoded"
    for phrase, problem in _INVALID_DOCUMENT:
        if phrase in text:
            return problem
    if isinstance(exc, bson.errors.InvalidBSON):
        return f"a document from the server cannot be decoded ({type(exc).__name__})"
    return f"the document cannot be encoded ({type(exc).__name__})"


# Driver exception classes and what they become, most specific first.
_BY_CLASS: tuple[
    tuple[type[Exception] | tuple[type[Exception], ...], type[MongoError], str], ...
] = (
    (pymongo.errors.ServerSelectionTimeoutError, MongoConnectError, "no server available: "),
    (
        (pymongo.errors.ExecutionTimeout, pymongo.errors.NetworkTimeout),
        MongoTimeoutError,
        "timed out: ",
    ),
    (pymongo.errors.ConnectionFailure, MongoConnectError, "connection failed: "),  # AutoReconnect
    ((pymongo.errors.ConfigurationError, pymongo.errors.InvalidURI), MongoConfigurationError, ""),
)


def _from_operation_failure(
    exc: pymongo.errors.OperationFailure, context: dict[str, Any]
) -> MongoError:
    code = exc.code
    context = {**context, "code": code, "details": exc.details}
    if code in _AUTH_CODES:
        return MongoAuthenticationError(str(exc), **context)
    if code in _PERMISSION_CODES:
        return MongoPermissionDeniedError(str(exc), **context)
    if code in _TIMEOUT_CODES:
        return MongoTimeoutError(str(exc), **context)
    return MongoCommandError(str(exc), **context)


def map_error(exc: Exception, *, operation: str, resource: str | None = None) -> MongoError:
    """PyMongo's exception as ours, most specific first (``raise map_error(e) from e``)."""
    context: dict[str, Any] = {"operation": operation, "resource": resource}
    if not isinstance(exc, pymongo.errors.PyMongoError):  # BSON and the encoder's builtins
        return MongoDataError(f"cannot store the document: {_encode_problem(exc)}", **context)
    context["labels"] = _labels(exc)
    key = _duplicate_key(exc)
    if key is not None:
        return MongoDuplicateKeyError(
            f"duplicate key on {sorted(key)}", key=key, code=_DUPLICATE_KEY, **context
        )
    for driver_class, our_class, prefix in _BY_CLASS:
        if isinstance(exc, driver_class):
            return our_class(f"{prefix}{exc}", **context)
    if isinstance(exc, pymongo.errors.OperationFailure):
        return _from_operation_failure(exc, context)
    if exc.timeout:
        return MongoTimeoutError(f"timed out: {exc}", **context)
    return MongoCommandError(str(exc), **context)


@contextmanager
def map_errors(operation: str, resource: str | None = None) -> Generator[None]:
    """The boundary: what PyMongo and BSON raise inside becomes a ``MongoError``."""
    try:
        yield
    except MongoError:  # already ours (and a PyMongoError too): pass it on unchanged
        raise
    except _DRIVER_ERRORS as exc:
        raise map_error(exc, operation=operation, resource=resource) from exc
