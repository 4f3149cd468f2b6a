"""MinioConfig: where the S3 server is, the credentials, and how transfers behave."""

from __future__ import annotations

import ipaddress
import re
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from .._core._config import ServiceConfig

__all__ = ("MinioConfig", "check_bucket_name", "check_object_name")

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_HOST_PORT_RE = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")
#: What a signature's credential scope can carry: visible ASCII without "/".
_SCOPE_RE = re.compile(r"^[\x21-\x2e\x30-\x7e]*$")
#: What a request header can carry: visible ASCII (AWS secrets and tokens hold "/+=").
_VISIBLE_RE = re.compile(r"^[\x21-\x7e]*$")
MIN_PART_SIZE = 5 * 1024 * 1024


def check_bucket_name(name: str) -> str:
    """``name`` if it follows S3's bucket rules, else ``ValueError`` saying which rule."""
    if not 3 <= len(name) <= 63:  # noqa: PLR2004 -- S3's limits
        msg = f"bucket name {name!r} must be 3 to 63 characters long"
        raise ValueError(msg)
    if not _BUCKET_RE.match(name):
        msg = (
            f"bucket name {name!r} may hold only lowercase letters, digits, dots and hyphens, "
            "and must start and end with a letter or digit"
        )
        raise ValueError(msg)
    if ".." in name or ".-" in name or "-." in name:
        msg = f"bucket name {name!r} must not contain '..', '.-' or '-.'"
        raise ValueError(msg)
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return name
    msg = f"bucket name {name!r} must not be an IP address"
    raise ValueError(msg)


def check_object_name(name: str) -> str:
    """``name`` if it is a valid S3 key (non-empty, <= 1024 bytes of UTF-8, no NUL)."""
    if not name:
        msg = "object name must not be empty"
        raise ValueError(msg)
    if "\x00" in name:
        msg = "object name must not contain NUL characters"
        raise ValueError(msg)
    if len(name.encode("utf-8", "surrogatepass")) > 1024:  # noqa: PLR2004
        msg = "object name must be at most 1024 bytes of UTF-8"
        raise ValueError(msg)
    if not name.strip():
        msg = "object name must not be only whitespace"
        raise ValueError(msg)
    return name


class MinioConfig(ServiceConfig):
    """Settings of a :class:`~anyservices.minio.MinioService`.

    Environment variables: ``ANYSERVICES_MINIO_ENDPOINT``, ``ANYSERVICES_MINIO_ACCESS_KEY``, ...
    """

    env_prefix: ClassVar[str] = "ANYSERVICES_MINIO_"

    #: ``host:port`` of the S3 server (no scheme, no path).
    endpoint: str = "127.0.0.1:9000"
    access_key: str = Field(default="minioadmin", min_length=1)
    secret_key: SecretStr = SecretStr("minioadmin")
    #: HTTPS when True.
    secure: bool = False
    region: str | None = None
    session_token: SecretStr | None = None
    #: The bucket used when a call passes ``bucket_name=None``.
    default_bucket: str | None = None
    #: Create ``default_bucket`` on enter when it does not exist.
    auto_create_bucket: bool = False
    #: Worker threads running SDK calls, and the size of the HTTP connection pool.
    max_concurrency: int = Field(default=16, ge=1, le=1024)
    #: Multipart part size for streamed uploads (S3 minimum 5 MiB).
    part_size: int = Field(default=16 * 1024 * 1024, ge=MIN_PART_SIZE, le=5 * 1024**3)
    #: Chunk size of streamed downloads.
    chunk_size: int = Field(default=1024 * 1024, ge=1024)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    #: Retries of failed HTTP requests by the connection pool (connect errors only).
    retries: int = Field(default=2, ge=0, le=10)

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        if "://" in value or "/" in value:
            msg = (
                "endpoint must be 'host:port' without a scheme or path (use secure=True for HTTPS)"
            )
            raise ValueError(msg)
        if not value or not _HOST_PORT_RE.match(value):
            msg = "endpoint must be 'host' or 'host:port'"
            raise ValueError(msg)
        return value

    @field_validator("access_key", "region")
    @classmethod
    def _check_scope(cls, value: str | None) -> str | None:
        if value is not None and not _SCOPE_RE.match(value):
            msg = "must hold visible ASCII characters only (no spaces, controls or '/')"
            raise ValueError(msg)
        return value

    @field_validator("secret_key", "session_token")
    @classmethod
    def _check_visible_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _VISIBLE_RE.match(value.get_secret_value()):
            msg = "must hold visible ASCII characters only (no spaces or controls)"
            raise ValueError(msg)
        return value

    @field_validator("default_bucket")
    @classmethod
    def _check_bucket(cls, value: str | None) -> str | None:
        return None if value is None else check_bucket_name(value)
