"""RedisConfig: where the server is and how to talk to it."""

from __future__ import annotations

from typing import Annotated, Literal, Self
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from .._core._config import ServiceConfig
from ._slots import check_topology

__all__ = ("RedisConfig",)


class RedisConfig(ServiceConfig):
    """Connection settings. ``url`` (``redis://``, ``rediss://`` or ``unix://``) sets the others.

    Timeouts are in seconds; ``None`` means no limit (callers may still use
    ``anyio.fail_after``).
    """

    env_prefix = "ANYSERVICES_REDIS_"

    host: str = "127.0.0.1"
    port: int = Field(default=6379, ge=1, le=65535)
    db: int = Field(default=0, ge=0)
    username: str | None = None
    password: SecretStr | None = None
    url: SecretStr | None = None
    unix_socket_path: str | None = None
    tls: bool = False
    tls_verify: bool = True
    socket_connect_timeout: float | None = Field(default=5.0, gt=0)
    socket_timeout: float | None = Field(default=None, gt=0)
    max_connections: int = Field(default=16, ge=1)
    multiplexed_connections: int = Field(default=1, ge=1)
    health_check_interval: float | None = Field(default=None, gt=0)
    namespace: str | None = None
    encoding: str = "utf-8"
    decode_responses: bool = True
    client_name: str | None = "anyservices"
    # Cluster and Sentinel (docs/redis-cluster.md). Address lists: "host:port,host:port".
    mode: Literal["standalone", "cluster", "sentinel"] = "standalone"
    cluster_nodes: Annotated[tuple[str, ...], NoDecode] = ()
    sentinels: Annotated[tuple[str, ...], NoDecode] = ()
    sentinel_master: str | None = None
    cluster_retry_timeout: float = Field(default=5.0, gt=0)
    read_from_replicas: bool = False
    # Sentinel only: follow every write with WAIT <replicas> <timeout> (0: do not wait).
    sentinel_wait_replicas: int = Field(default=0, ge=0)
    sentinel_wait_timeout: float = Field(default=1.0, ge=0.001)

    @model_validator(mode="after")
    def _apply_url(self) -> Self:
        """Set the fields the URL names; a bad URL's error never shows any part of it."""
        if self.url is None:
            return self
        try:
            parts = urlsplit(self.url.get_secret_value())
        except ValueError:
            raise ValueError("url: not a valid URL") from None
        updates: dict[str, object] = {}
        if parts.scheme == "unix":
            updates["unix_socket_path"] = parts.path
        elif parts.scheme in {"redis", "rediss"}:
            updates.update(_server_fields(parts))
        else:
            raise ValueError("url: the scheme must be redis://, rediss:// or unix://")
        if parts.username:
            updates["username"] = unquote(parts.username)
        if parts.password:
            updates["password"] = SecretStr(unquote(parts.password))
        for name, value in updates.items():
            object.__setattr__(self, name, value)
        return self

    @field_validator("cluster_nodes", "sentinels", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _check_mode(self) -> Self:
        check_topology(self)  # cluster/sentinel rules: db 0, no "{" in the namespace...
        return self

    @model_validator(mode="after")
    def _check_sentinel_wait(self) -> Self:
        """WAIT is only sent in sentinel mode, and must end before ``socket_timeout``."""
        if not self.sentinel_wait_replicas:
            return self
        if self.mode != "sentinel":
            raise ValueError(
                f'sentinel_wait_replicas: only mode="sentinel" waits for replicas, not '
                f"mode={self.mode!r} (send WAIT with execute_command there)"
            )
        if self.socket_timeout is not None and self.sentinel_wait_timeout >= self.socket_timeout:
            raise ValueError(
                f"sentinel_wait_timeout: {self.sentinel_wait_timeout} s must be shorter than "
                f"socket_timeout ({self.socket_timeout} s): commands queued behind a WAIT "
                "would time the connection out"
            )
        return self

    def describe(self) -> str:
        """A secret-free description of the target, for reprs and errors."""
        if self.mode == "cluster":
            return f"redis-cluster://{','.join(self.cluster_nodes)}"
        if self.mode == "sentinel":
            return f"redis-sentinel://{','.join(self.sentinels)}/{self.sentinel_master}"
        if self.unix_socket_path:
            return f"unix://{self.unix_socket_path}"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"


def _server_fields(parts: SplitResult) -> dict[str, object]:
    """tls, host, port and db from a ``redis://`` or ``rediss://`` URL."""
    if "@" in parts.path + parts.query + parts.fragment:
        # The user name or password held a '/', '?' or '#', which ended the host part
        # early: what follows would be read as host, port and database.
        raise ValueError("url: percent-encode '/', '?' and '#' in the credentials (%2F, %3F, %23)")
    fields: dict[str, object] = {"tls": parts.scheme == "rediss"}
    if parts.hostname:
        fields["host"] = parts.hostname
    try:
        port = parts.port
    except ValueError:
        raise ValueError("url: the port must be a number from 1 to 65535") from None
    if port is not None:
        if port == 0:
            raise ValueError("url: the port must be a number from 1 to 65535")
        fields["port"] = port
    path = parts.path.strip("/")
    if path:
        if not path.isdigit():
            raise ValueError("url: the database (the path after the host) must be a number")
        fields["db"] = int(path)
    return fields
