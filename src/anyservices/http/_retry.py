"""Retry policy: exponential backoff with full jitter, Retry-After, an overall deadline.

Nothing here is HTTP-specific except :func:`parse_retry_after`; the policy and the
delay computation could serve other services (a candidate for ``_core``).
"""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ("IDEMPOTENT_METHODS", "RetryPolicy", "backoff_delay", "parse_retry_after")

#: Methods that may be repeated without changing the outcome (RFC 9110, 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class RetryPolicy(BaseModel):
    """When and how long to wait before trying a request again.

    ``max_attempts`` counts the first try (1 disables retries). The wait before retry
    ``n`` is uniform in ``[0, min(backoff_max, backoff_base * 2**(n-1))]`` ("full
    jitter"), or what the server's ``Retry-After`` says, capped by ``retry_after_max``.
    No wait may end past ``deadline`` seconds after the first try began: then the last
    answer (or error) is returned (raised) instead.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=3, ge=1, le=100)
    backoff_base: float = Field(default=0.1, gt=0, le=60)
    backoff_max: float = Field(default=5.0, gt=0, le=600)
    deadline: float | None = Field(default=30.0, gt=0)
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    retry_on_connect_error: bool = True
    retry_on_timeout: bool = True
    retry_non_idempotent: bool = False
    respect_retry_after: bool = True
    retry_after_max: float = Field(default=60.0, ge=0)


def backoff_delay(policy: RetryPolicy, retry: int, rng: random.Random | None = None) -> float:
    """Full-jitter wait before retry number ``retry`` (1 for the first retry)."""
    ceiling = min(policy.backoff_max, policy.backoff_base * 2 ** (retry - 1))
    return (rng or random).uniform(0, ceiling)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
