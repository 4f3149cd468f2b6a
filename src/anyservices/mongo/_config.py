"""MongoConfig: where the server is and how the client behaves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from .._core._config import ServiceConfig

__all__ = ("MongoConfig", "safe_url")


def safe_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (for reprs, logs and errors)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    netloc_end = len(rest)
    for stop in "/?":
        index = rest.find(stop)
        if index != -1:
            netloc_end = min(netloc_end, index)
    netloc, tail = rest[:netloc_end], rest[netloc_end:]
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    path, qmark, query = tail.partition("?")
    if qmark:
        tail = f"{path}?{'&'.join(_mask_option(option) for option in query.split('&'))}"
    return f"{scheme}://{netloc}{tail}"


# URI options whose values can be secrets (passwords, AWS session tokens, ...).
_SECRET_OPTIONS = ("password", "token", "secret", "authmechanismproperties")


def _mask_option(option: str) -> str:
    name, eq, _ = option.partition("=")
    if eq and any(word in name.lower() for word in _SECRET_OPTIONS):
        return f"{name}=***"
    return option


class MongoConfig(ServiceConfig):
    """Settings of a :class:`~anyservices.mongo.MongoService`.

    Environment variables: ``ANYSERVICES_MONGO_URL``, ``ANYSERVICES_MONGO_DATABASE``, ...
    """

    env_prefix: ClassVar[str] = "ANYSERVICES_MONGO_"

    #: A ``mongodb://`` or ``mongodb+srv://`` URL; it may hold credentials, so it is secret.
    url: SecretStr = SecretStr("mongodb://127.0.0.1:27017")
    #: The database every collection name refers to.
    database: str = Field(default="anyservices", min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    auth_source: str | None = None
    #: Connections per server, and also the number of worker threads running driver calls.
    max_pool_size: int = Field(default=32, ge=1, le=1000)
    min_pool_size: int = Field(default=0, ge=0)
    server_selection_timeout_ms: int = Field(default=5000, gt=0)
    connect_timeout_ms: int = Field(default=10000, gt=0)
    retry_writes: bool = True
    retry_reads: bool = True
    #: Client-side operation timeout (PyMongo's CSOT ``timeoutMS``); None: only caller deadlines.
    timeout_ms: int | None = Field(default=None, gt=0)
    app_name: str = "anyservices"
    #: Documents fetched per thread hop when streaming (``find_iter``).
    stream_batch_size: int = Field(default=500, ge=1)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in ("mongodb", "mongodb+srv"):
            msg = "must be a mongodb:// or mongodb+srv:// URL"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _check_pool(self) -> Self:
        if self.min_pool_size > self.max_pool_size:
            msg = "min_pool_size must not exceed max_pool_size"
            raise ValueError(msg)
        return self

    @property
    def safe_url(self) -> str:
        """The URL without credentials."""
        return safe_url(self.url.get_secret_value())

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, (self.safe_url if name == "url" else value)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of ``pymongo.MongoClient``."""
        options: dict[str, Any] = {
            "maxPoolSize": self.max_pool_size,
            "minPoolSize": self.min_pool_size,
            "serverSelectionTimeoutMS": self.server_selection_timeout_ms,
            "connectTimeoutMS": self.connect_timeout_ms,
            "retryWrites": self.retry_writes,
            "retryReads": self.retry_reads,
            "appname": self.app_name,
            "uuidRepresentation": "standard",
        }
        if self.timeout_ms is not None:
            options["timeoutMS"] = self.timeout_ms
        if self.username is not None:
            options["username"] = self.username
        if self.password is not None:
            options["password"] = self.password.get_secret_value()
        if self.auth_source is not None:
            options["authSource"] = self.auth_source
        return options
