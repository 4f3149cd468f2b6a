"""MinioService errors, and the one place the SDK's and urllib3's exceptions become ours.

::

    MinioError(AnyServicesError)
    ├── MinioNotFoundError(MinioError, NotFoundError)              NoSuchBucket, NoSuchKey, ...
    ├── MinioPermissionDeniedError(MinioError, PermissionDeniedError)   AccessDenied
    ├── MinioAuthenticationError(MinioError, AuthenticationError)  bad signature or key
    ├── MinioConflictError(MinioError, ConflictError)              bucket exists, not empty
    ├── MinioConnectError(MinioError, ConnectError)                connection refused, TLS, DNS
    ├── MinioTimeoutError(MinioError, ServiceTimeoutError)         read/connect timeouts
    ├── MinioConfigurationError(MinioError, ConfigurationError)    no bucket given nor configured
    └── MinioResponseError(MinioError, CommandError)               any other refusal (``.code``)

Messages name the bucket and the object; they never hold the secret key (the SDK's
error text holds neither the secret nor a signature).
"""

from __future__ import annotations

import urllib3.exceptions
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from .._core._errors import (
    AnyServicesError,
    AuthenticationError,
    CommandError,
    ConfigurationError,
    ConflictError,
    ConnectError,
    NotFoundError,
    PermissionDeniedError,
    ServiceTimeoutError,
)

__all__ = (
    "SDK_ERRORS",
    "MinioAuthenticationError",
    "MinioConfigurationError",
    "MinioConflictError",
    "MinioConnectError",
    "MinioError",
    "MinioNotFoundError",
    "MinioPermissionDeniedError",
    "MinioResponseError",
    "MinioTimeoutError",
    "map_error",
)

#: What the boundary catches: what the SDK and its HTTP pool raise, nothing else.
SDK_ERRORS = (MinioException, urllib3.exceptions.HTTPError, ValueError, OSError)


class MinioError(AnyServicesError):
    """Base of every MinioService error; ``.code`` is the S3 error code when there is one."""

    def __init__(
        self,
        message: str,
        *,
        service: str | None = "minio",
        operation: str | None = None,
        resource: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, service=service, operation=operation, resource=resource)
        self.code = code


class MinioNotFoundError(MinioError, NotFoundError):
    """The bucket or the object does not exist."""


class MinioPermissionDeniedError(MinioError, PermissionDeniedError):
    """The credentials are valid but may not do this."""


class MinioAuthenticationError(MinioError, AuthenticationError):
    """The server refused the credentials (unknown access key, wrong secret)."""


class MinioConflictError(MinioError, ConflictError):
    """The bucket already exists elsewhere, is not empty, ..."""


class MinioConnectError(MinioError, ConnectError):
    """The server could not be reached."""


class MinioTimeoutError(MinioError, ServiceTimeoutError):
    """The server did not answer in time."""


class MinioConfigurationError(MinioError, ConfigurationError):
    """Bad call arguments or settings (no bucket, an invalid name)."""


class MinioResponseError(MinioError, CommandError):
    """The server refused the request for a reason no narrower class names."""


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


def _where(bucket: str | None, object_name: str | None) -> str:
    if bucket is None:
        return ""
    if object_name is None:
        return f" bucket={bucket!r}"
    return f" bucket={bucket!r} object={object_name!r}"


def _resource(bucket: str | None, object_name: str | None) -> str | None:
    if bucket is None:
        return None
    return bucket if object_name is None else f"{bucket}/{object_name}"


def _s3_class(code: str, status: int | None) -> type[MinioError]:
    if code in _NOT_FOUND or (code == "NoSuchKey") or (status == 404 and code in {"", "NotFound"}):  # noqa: PLR2004
        return MinioNotFoundError
    if code in _AUTH:
        return MinioAuthenticationError
    if code in _DENIED or status == 403:  # noqa: PLR2004
        return MinioPermissionDeniedError
    if code in _CONFLICT:
        return MinioConflictError
    return MinioResponseError


def map_error(  # noqa: PLR0911 -- one branch per kind
    exc: BaseException,
    *,
    operation: str,
    bucket: str | None = None,
    object_name: str | None = None,
) -> MinioError:
    """The MinioError for an SDK/urllib3 exception, naming the bucket and object."""
    where = _where(bucket, object_name)
    resource = _resource(bucket, object_name)
    if isinstance(exc, MinioError):
        return exc
    if isinstance(exc, S3Error):
        code = exc.code or ""
        status = exc.response.status
        cls = _s3_class(code, status)
        text = _TEXT.get(code, exc.message or code or "request refused")
        return cls(
            f"{operation}: {text} [{code}]{where}",
            operation=operation,
            resource=resource,
            code=code,
        )
    if isinstance(exc, ServerError):
        status = exc.status_code
        return MinioResponseError(
            f"{operation}: server error HTTP {status}{where}",
            operation=operation,
            resource=resource,
        )
    if isinstance(exc, InvalidResponseError):
        return MinioResponseError(
            f"{operation}: invalid response from the server{where}",
            operation=operation,
            resource=resource,
        )
    if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return MinioTimeoutError(
            f"{operation}: timed out{where}", operation=operation, resource=resource
        )
    if isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError)):
        reason = type(exc).__name__
        return MinioConnectError(
            f"{operation}: cannot reach the server ({reason}){where}",
            operation=operation,
            resource=resource,
        )
    if isinstance(exc, ValueError):
        return MinioConfigurationError(
            f"{operation}: {exc}{where}", operation=operation, resource=resource
        )
    return MinioError(
        f"{operation}: {type(exc).__name__}: {exc}{where}", operation=operation, resource=resource
    )
