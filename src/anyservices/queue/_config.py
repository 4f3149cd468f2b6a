"""QueueConfig and Retry: which queue, on which Redis, and how jobs are retried."""

from __future__ import annotations

import random
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._core._config import ServiceConfig
from ..redis import RedisConfig

__all__ = ("QueueConfig", "Retry")

_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


class Retry(BaseModel):
    """How often a failing job runs, and how long it waits between runs.

    ``attempts`` counts runs (1 = never retried). The wait before run ``n + 1`` is
    drawn uniformly from ``[0, min(max_backoff, backoff * 2 ** (n - 1))]`` seconds
    (exponential backoff with full jitter). A timeout counts as a failure, and is
    retried unless ``retry_timeouts`` is off.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=3, ge=1)
    backoff: float = Field(default=1.0, ge=0)
    max_backoff: float = Field(default=300.0, ge=0)
    retry_timeouts: bool = True

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed run number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** min(attempt - 1, 60))
        return random.uniform(0, ceiling)  # noqa: S311 -- jitter, not cryptography


class QueueConfig(ServiceConfig):
    """One named queue on one Redis. ``from_env()`` reads ``ANYSERVICES_QUEUE_*``
    (``ANYSERVICES_QUEUE_REDIS__URL`` for the Redis settings)."""

    env_prefix = "ANYSERVICES_QUEUE_"

    name: str = "default"
    redis: RedisConfig = RedisConfig()
    #: A job is redelivered when its worker has not renewed it for this long.
    lease_seconds: float = Field(default=15.0, gt=0)
    #: How long finished jobs (state, result, error) are kept.
    result_ttl_seconds: int = Field(default=3600, ge=1)
    #: A job started this many times without finishing goes to the dead-letter stream.
    max_deliveries: int = Field(default=10, ge=1)
    retry: Retry = Retry()
    #: Priorities are 0 (the default) to priority_levels - 1; higher runs first.
    priority_levels: int = Field(default=3, ge=1, le=16)
    #: On SIGTERM, running jobs get this long to finish before they are requeued.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError("the name must be 1-100 letters, digits or _ . : -")
        return name
