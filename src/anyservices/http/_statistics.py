"""What ``HttpService.statistics()`` returns."""

from __future__ import annotations

from dataclasses import dataclass

from ._breaker import BreakerStatistics

__all__ = ("HttpStatistics",)


@dataclass(frozen=True)
class HttpStatistics:
    #: Requests sent, retries included.
    requests: int
    #: Retries made (waits that ended in another try).
    retries: int
    #: Transport errors and error statuses that were retryable or 5xx.
    failures: int
    #: The circuit breaker's state and counts.
    breaker: BreakerStatistics
