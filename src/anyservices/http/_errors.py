"""HTTP errors, and the one place where httpx's exceptions become ours.

::

    HttpError(AnyServicesError)
    ├── HttpConnectError(ConnectError)          the server could not be reached
    ├── HttpTimeoutError(ServiceTimeoutError)   a timeout from HttpConfig expired
    ├── HttpCircuitOpenError(CircuitOpenError)  the service's breaker refuses calls for now
    ├── HttpDataError(DataError)                a body did not fit the model (names the field)
    └── HttpStatusError                         a bad status: .status, .method, .url
        ├── HttpNotFoundError(NotFoundError)            404, 410
        ├── HttpAuthenticationError(AuthenticationError) 401
        ├── HttpPermissionDeniedError(PermissionDeniedError) 403
        ├── HttpConflictError(ConflictError)            409, 412
        └── HttpCommandError(CommandError)              every other 4xx/5xx
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager

import httpx

from .._core._errors import (
    AnyServicesError,
    AuthenticationError,
    CircuitOpenError,
    CommandError,
    ConflictError,
    ConnectError,
    DataError,
    NotFoundError,
    PermissionDeniedError,
    ServiceTimeoutError,
)
from .._core._secrets import mask_query

__all__ = (
    "HttpAuthenticationError",
    "HttpCircuitOpenError",
    "HttpCommandError",
    "HttpConflictError",
    "HttpConnectError",
    "HttpDataError",
    "HttpError",
    "HttpNotFoundError",
    "HttpPermissionDeniedError",
    "HttpStatusError",
    "HttpTimeoutError",
    "map_errors",
    "safe_url",
    "status_error",
)


class HttpError(AnyServicesError):
    """Base of every error HttpService raises."""

    service_name = "http"


class HttpConnectError(HttpError, ConnectError):
    """The server could not be reached, or the connection broke."""


class HttpTimeoutError(HttpError, ServiceTimeoutError):
    """A timeout set in HttpConfig expired (connect, read, write or pool)."""


class HttpCircuitOpenError(HttpError, CircuitOpenError):
    """The circuit breaker is open: the call was not sent."""


class HttpDataError(HttpError, DataError):
    """A response body was not valid JSON or did not match the model."""


class HttpStatusError(HttpError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        body: str = "",
        service: str | None = None,
    ) -> None:
        super().__init__(message, service=service, operation=method, resource=url)
        self.status = status
        self.method = method
        self.url = url
        #: The first 500 characters of the body, for diagnostics.
        self.body = body

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_status,
            (type(self), self.message, self.status, self.method, self.url, self.body),
        )


def _rebuild_status(
    cls: type[HttpStatusError], message: str, status: int, method: str, url: str, body: str
) -> HttpStatusError:
    return cls(message, status=status, method=method, url=url, body=body)


class HttpNotFoundError(HttpStatusError, NotFoundError):
    """404 Not Found or 410 Gone."""


class HttpAuthenticationError(HttpStatusError, AuthenticationError):
    """401 Unauthorized."""


class HttpPermissionDeniedError(HttpStatusError, PermissionDeniedError):
    """403 Forbidden."""


class HttpConflictError(HttpStatusError, ConflictError):
    """409 Conflict or 412 Precondition Failed."""


class HttpCommandError(HttpStatusError, CommandError):
    """Any other error status."""


_BY_STATUS: dict[int, type[HttpStatusError]] = {
    401: HttpAuthenticationError,
    403: HttpPermissionDeniedError,
    404: HttpNotFoundError,
    409: HttpConflictError,
    410: HttpNotFoundError,
    412: HttpConflictError,
}


def safe_url(url: httpx.URL | str) -> str:
    """The URL without userinfo, and with secret-looking query values masked."""
    parsed = httpx.URL(url)
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    if parsed.query:
        parsed = parsed.copy_with(query=mask_query(parsed.query.decode()).encode())
    return str(parsed)


def status_error(response: httpx.Response) -> HttpStatusError:
    """The error for a response whose status is 400 or more."""
    request = response.request
    url = safe_url(request.url)
    cls = _BY_STATUS.get(response.status_code, HttpCommandError)
    body = response.text[:500]  # read: streamed responses are read before this
    phrase = response.reason_phrase or "error"
    return cls(
        f"{request.method} {url} returned {response.status_code} {phrase}",
        status=response.status_code,
        method=request.method,
        url=url,
        body=body,
    )


_TIMEOUT_KINDS: dict[type[httpx.TimeoutException], str] = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}


@contextmanager
def map_errors(method: str, url: str) -> Generator[None]:
    """The one boundary where httpx's exceptions become ours (``url`` is already safe).

    The most specific match wins, as in httpcore's ``map_exceptions``; each mapped error
    has the httpx exception as its ``__cause__`` (the retry loop asks it whether a
    connection was ever made).
    """
    context = {"operation": method, "resource": url}
    try:
        yield
    except httpx.TimeoutException as exc:
        kind = _TIMEOUT_KINDS.get(type(exc), "request")
        raise HttpTimeoutError(f"{kind} timeout: {_detail(exc)}", **context) from exc
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        raise HttpConnectError(f"cannot reach the server: {_detail(exc)}", **context) from exc
    except httpx.NetworkError as exc:
        raise HttpConnectError(f"connection broken: {_detail(exc)}", **context) from exc
    except httpx.DecodingError as exc:
        raise HttpDataError(f"response body cannot be decoded: {_detail(exc)}", **context) from exc
    except httpx.InvalidURL:  # its message quotes the URL, which may hold a secret
        raise HttpError("invalid URL", **context) from None
    except httpx.RequestError as exc:  # transport, proxy, protocol, too many redirects
        raise HttpError(f"transport error: {_detail(exc)}", **context) from exc


def _detail(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__
