"""MinioService errors, and the one place the SDK's and urllib3's exceptions become ours.

::

    MinioError(AnyServicesError, minio.error.MinioException)
    ├── MinioS3Error(MinioError, minio.error.S3Error)     the server refused with an S3 code
    │   ├── MinioNotFoundError(.., NotFoundError)             NoSuchBucket, NoSuchKey, ...
    │   ├── MinioPermissionDeniedError(.., PermissionDeniedError)   AccessDenied
    │   ├── MinioAuthenticationError(.., AuthenticationError)  bad signature or key
    │   ├── MinioConflictError(.., ConflictError)              bucket exists, not empty
    │   └── MinioResponseError(.., CommandError)               any other S3 code (``.code``)
    ├── MinioServerError(MinioError, CommandError, minio.error.ServerError)   HTTP error, no S3 body
    ├── MinioInvalidResponseError(MinioError, CommandError, minio.error.InvalidResponseError)
    ├── MinioConnectError(MinioError, ConnectError, urllib3.exceptions.HTTPError)
    ├── MinioTimeoutError(MinioError, ServiceTimeoutError, urllib3.exceptions.TimeoutError)
    ├── MinioConfigurationError(MinioError, ConfigurationError, ValueError)  no bucket, bad name
    └── MinioDataError(MinioError, DataError)          a stream longer or shorter than ``length``

Each class is also the SDK's (or urllib3's, or the builtin) exception that the minio SDK
raised for the same failure, so code written against the SDK (``except S3Error as e:
e.code``) keeps working. On an ``MinioS3Error`` the SDK's fields (``code``, ``response``,
``request_id``, ``host_id``, ``bucket_name``, ``object_name``) are the server's; ``message``
and ``resource`` are ours (``AnyServicesError``'s). Messages name the operation, the bucket
and the object; they never hold the secret key or a signature.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager

import urllib3.exceptions
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from .._core._errors import (
    AnyServicesError,
    AuthenticationError,
    CommandError,
    ConfigurationError,
    ConflictError,
    ConnectError,
    DataError,
    NotFoundError,
    PermissionDeniedError,
    ServiceTimeoutError,
)

__all__ = (
    "MinioAuthenticationError",
    "MinioConfigurationError",
    "MinioConflictError",
    "MinioConnectError",
    "MinioDataError",
    "MinioError",
    "MinioInvalidResponseError",
    "MinioNotFoundError",
    "MinioPermissionDeniedError",
    "MinioResponseError",
    "MinioS3Error",
    "MinioServerError",
    "MinioTimeoutError",
    "map_errors",
)

#: What the boundary catches: what the SDK and its HTTP pool raise, nothing else.
_SDK_ERRORS = (MinioException, urllib3.exceptions.HTTPError, ValueError, OSError)


class MinioError(AnyServicesError, MinioException):
    """Base of every MinioService error; ``.code`` is the S3 error code when there is one."""

    service_name = "minio"

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        operation: str | None = None,
        resource: str | None = None,
        code: str | None = None,
    ) -> None:
        self.code = code
        super().__init__(message, service=service, operation=operation, resource=resource)


# The SDK's classes take their own constructor arguments; these take the one message that
# AnyServicesError passes up the chain, and ours set the SDK's fields themselves.
class _SdkS3Error(S3Error):
    def __init__(self, message: str) -> None:
        MinioException.__init__(self, message)


class _SdkServerError(ServerError):
    def __init__(self, message: str) -> None:
        MinioException.__init__(self, message)


class _SdkInvalidResponseError(InvalidResponseError):
    def __init__(self, message: str) -> None:
        MinioException.__init__(self, message)


class MinioS3Error(MinioError, _SdkS3Error):
    """The server answered with an S3 error; also a ``minio.error.S3Error``."""

    # Ours (AnyServicesError's), never None; the SDK's may be None. Declared for mypy,
    # which otherwise sees the two bases disagree; pyright wants invariance instead.
    message: str  # pyright: ignore[reportIncompatibleVariableOverride]
    __repr__ = Exception.__repr__  # the SDK's would say "S3Error(...)"

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        operation: str | None = None,
        resource: str | None = None,
        code: str | None = None,
        cause: S3Error | None = None,
    ) -> None:
        self.response = cause.response if cause is not None else urllib3.HTTPResponse()
        self.request_id = None if cause is None else cause.request_id
        self.host_id = None if cause is None else cause.host_id
        self.bucket_name = None if cause is None else cause.bucket_name
        self.object_name = None if cause is None else cause.object_name
        super().__init__(
            message, service=service, operation=operation, resource=resource, code=code
        )


class MinioNotFoundError(MinioS3Error, NotFoundError):
    """The bucket or the object does not exist."""


class MinioPermissionDeniedError(MinioS3Error, PermissionDeniedError):
    """The credentials are valid but may not do this."""


class MinioAuthenticationError(MinioS3Error, AuthenticationError):
    """The server refused the credentials (unknown access key, wrong secret)."""


class MinioConflictError(MinioS3Error, ConflictError):
    """The bucket already exists elsewhere, is not empty, ..."""


class MinioResponseError(MinioS3Error, CommandError):
    """The server refused the request with an S3 code no narrower class names."""


class MinioServerError(MinioError, CommandError, _SdkServerError):
    """An HTTP error status without an S3 error body; also a ``minio.error.ServerError``."""

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        operation: str | None = None,
        resource: str | None = None,
        status_code: int = 0,
    ) -> None:
        self._status_code = status_code
        super().__init__(message, service=service, operation=operation, resource=resource)


class MinioInvalidResponseError(MinioError, CommandError, _SdkInvalidResponseError):
    """A reply that is not S3's XML; also a ``minio.error.InvalidResponseError``."""


class MinioConnectError(MinioError, ConnectError, urllib3.exceptions.HTTPError):
    """The server could not be reached (also urllib3's ``HTTPError``)."""


class MinioTimeoutError(MinioError, ServiceTimeoutError, urllib3.exceptions.TimeoutError):
    """The server did not answer within ``connect_timeout``/``read_timeout``."""


class MinioConfigurationError(MinioError, ConfigurationError, ValueError):
    """Bad call arguments or settings (no bucket, an invalid name); also a ``ValueError``."""


class MinioDataError(MinioError, DataError):
    """The data does not match what the call said (a stream longer or shorter than ``length``)."""


_NOT_FOUND = frozenset(
    {"NoSuchBucket", "NoSuchKey", "NoSuchUpload", "NoSuchVersion", "ResourceNotFound"}
)
_AUTH = frozenset(
    {
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "InvalidToken",
        "InvalidSecurity",
    }
)
_DENIED = frozenset({"AccessDenied", "AllAccessDisabled", "AccountProblem"})
_CONFLICT = frozenset(
    {"BucketAlreadyExists", "BucketAlreadyOwnedByYou", "BucketNotEmpty", "OperationAborted"}
)
_TEXT = {
    "NoSuchBucket": "no such bucket",
    "NoSuchKey": "no such object",
    "AccessDenied": "access denied",
    "SignatureDoesNotMatch": "signature mismatch: the secret key is wrong",
    "InvalidAccessKeyId": "unknown access key",
    "BucketAlreadyExists": "bucket already exists (owned by someone else)",
    "BucketAlreadyOwnedByYou": "bucket already exists",
    "BucketNotEmpty": "bucket is not empty",
}


def _s3_class(code: str, status: int) -> type[MinioS3Error]:
    if code in _NOT_FOUND or (status == 404 and code in {"", "NotFound"}):  # noqa: PLR2004
        return MinioNotFoundError
    if code in _AUTH:
        return MinioAuthenticationError
    if code in _DENIED or status == 403:  # noqa: PLR2004
        return MinioPermissionDeniedError
    if code in _CONFLICT:
        return MinioConflictError
    return MinioResponseError


def _translate(
    exc: BaseException, operation: str, bucket: str | None, object_name: str | None
) -> MinioError:
    """The MinioError for one SDK/urllib3/OS exception, naming the bucket and object."""
    where = "" if bucket is None else f" bucket={bucket!r}"
    where += "" if object_name is None else f" object={object_name!r}"
    resource = bucket if object_name is None or bucket is None else f"{bucket}/{object_name}"
    context = {"operation": operation, "resource": resource}
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason  # what failed on the last try: a timeout, a refused connection, ...
    if isinstance(exc, S3Error):
        code = exc.code or ""
        text = _TEXT.get(code, exc.message or code or "request refused")
        cls = _s3_class(code, exc.response.status)
        return cls(f"{operation}: {text} [{code}]{where}", code=code, cause=exc, **context)
    if isinstance(exc, ServerError):
        status = exc.status_code
        message = f"{operation}: server error HTTP {status}{where}"
        return MinioServerError(message, status_code=status, **context)
    if isinstance(exc, InvalidResponseError):
        message = f"{operation}: invalid response from the server{where}"
        return MinioInvalidResponseError(message, **context)
    refused = isinstance(exc, urllib3.exceptions.NewConnectionError)  # a ConnectTimeoutError
    if not refused and isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)):
        which = "connect" if isinstance(exc, urllib3.exceptions.ConnectTimeoutError) else "read"
        message = f"{operation}: timed out (MinioConfig.{which}_timeout){where}"
        return MinioTimeoutError(message, **context)
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        reason = type(exc).__name__
        message = f"{operation}: cannot reach the server ({reason}){where}"
        return MinioConnectError(message, **context)
    # ValueError (the SDK's argument checks) and any other MinioException.
    text = str(exc) or "the SDK refused the arguments"
    return MinioConfigurationError(f"{operation}: {text}{where}", **context)


@contextmanager
def map_errors(
    operation: str, bucket: str | None = None, object_name: str | None = None
) -> Generator[None]:
    """The boundary: SDK, urllib3 and socket exceptions raised inside become MinioErrors.

    Ours pass through unchanged; anything else (cancellation, a programming error)
    is not touched.
    """
    try:
        yield
    except MinioError:
        raise
    except _SDK_ERRORS as exc:
        raise _translate(exc, operation, bucket, object_name) from exc
