"""HttpConfig: where to send requests, and how patiently."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr, field_validator

from .._core._config import ServiceConfig
from .._core._secrets import MASK, is_secret_name
from ._breaker import BreakerSettings
from ._errors import safe_url
from ._retry import RetryPolicy

__all__ = ("HttpConfig",)


class HttpConfig(ServiceConfig):
    """Settings of an :class:`~anyservices.http.HttpService`.

    Environment variables: ``ANYSERVICES_HTTP_BASE_URL``, ``ANYSERVICES_HTTP_TIMEOUT``,
    nested ones with ``__`` (``ANYSERVICES_HTTP_RETRY__MAX_ATTEMPTS=5``).
    """

    env_prefix: ClassVar[str] = "ANYSERVICES_HTTP_"

    #: Prefix of every relative path; "" means callers pass absolute URLs.
    base_url: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    #: Sent as ``Authorization: Bearer <token>``.
    bearer_token: SecretStr | None = None
    #: Default timeout in seconds for connect, read, write and pool waits.
    timeout: float = Field(default=10.0, gt=0)
    connect_timeout: float | None = Field(default=None, gt=0)
    read_timeout: float | None = Field(default=None, gt=0)
    max_connections: int = Field(default=100, ge=1)
    max_keepalive_connections: int = Field(default=20, ge=0)
    keepalive_expiry: float = Field(default=5.0, ge=0)
    follow_redirects: bool = False
    verify_tls: bool = True
    user_agent: str = "anyservices-http"
    #: Raise HttpStatusError from the plain verbs on a 4xx/5xx (typed helpers always do).
    raise_for_status: bool = False
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    #: What the health check GETs (relative to base_url).
    health_path: str = "/"

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:  # its message quotes the URL, which may hold a secret
            msg = "must be a valid http:// or https:// URL with a host"
            raise ValueError(msg) from None
        if url.scheme not in ("http", "https") or not url.host:
            msg = "must be an http:// or https:// URL with a host"
            raise ValueError(msg)
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "base_url" and value:
                yield name, safe_url(value)
            elif name == "headers":
                yield (
                    name,
                    {k: MASK if is_secret_name(k) else v for k, v in value.items()},
                )
            else:
                yield name, value

    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            self.timeout,
            connect=self.connect_timeout or self.timeout,
            read=self.read_timeout or self.timeout,
        )

    def httpx_limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry,
        )
