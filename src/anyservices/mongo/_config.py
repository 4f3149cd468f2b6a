"""MongoConfig: where the server is and how the client behaves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Self

import pymongo.errors
from pydantic import Field, SecretStr, field_validator, model_validator
from pymongo import uri_parser_shared

from .._core._config import ServiceConfig
from .._core._secrets import mask_url

__all__ = ("MongoConfig",)


def _check_uri(url: str) -> None:
    """Parse ``url`` as the driver will (no DNS, no I/O); raise naming the problem.

    ``_validate_uri`` is the parser behind ``pymongo.uri_parser.parse_uri`` without the
    SRV lookup, so ``mongodb+srv://`` URLs are checked offline too. A message that would
    show a piece of the URL is replaced by ``ServiceConfig`` (the one secret filter).
    """
    try:
        uri_parser_shared._validate_uri(url, validate=True, warn=False)  # noqa: SLF001 -- see above
    except (pymongo.errors.PyMongoError, ValueError) as exc:
        reason = str(exc).split(". Hint:", 1)[0].rstrip(".")
        msg = f"not a valid MongoDB URL: {reason}"
        raise ValueError(msg) from None


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
        url = value.get_secret_value()
        if not url.startswith(("mongodb://", "mongodb+srv://")):
            msg = "must be a mongodb:// or mongodb+srv:// URL"
            raise ValueError(msg)
        _check_uri(url)
        return value

    @model_validator(mode="after")
    def _check_pool(self) -> Self:
        if self.min_pool_size > self.max_pool_size:
            msg = "min_pool_size: must not exceed max_pool_size"
            raise ValueError(msg)
        return self

    @property
    def safe_url(self) -> str:
        """The URL without credentials nor secret options (for reprs, logs and errors)."""
        return mask_url(self.url.get_secret_value())

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
