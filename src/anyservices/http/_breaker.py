"""A circuit breaker: closed / open / half-open, with counts and a cool-down.

State lives in plain attributes touched only from the event loop the service runs
on, so it needs no lock (every change happens between two awaits). It is shared by
all the tasks of one service. Nothing here is HTTP-specific (a candidate for ``_core``).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

__all__ = ("BreakerSettings", "BreakerState", "BreakerStatistics", "CircuitBreaker", "Outcome")


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class BreakerSettings(BaseModel):
    """``failure_threshold`` consecutive failures open the circuit; after ``cooldown``
    seconds up to ``half_open_max_calls`` trial calls go through, and
    ``half_open_successes`` successes close it again (one failure reopens it).
    ``enabled=False`` turns the breaker off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    failure_threshold: int = Field(default=5, ge=1)
    cooldown: float = Field(default=30.0, ge=0)
    half_open_max_calls: int = Field(default=1, ge=1)
    half_open_successes: int = Field(default=1, ge=1)


@dataclass(frozen=True)
class BreakerStatistics:
    state: BreakerState
    consecutive_failures: int
    total_failures: int
    total_successes: int
    rejected: int
    times_opened: int
    #: Seconds until an open breaker lets a trial call through (0 when not open).
    retry_in: float


@dataclass
class Outcome:
    """Set ``failed = True`` inside :meth:`CircuitBreaker.guard` to count a failure
    that raised nothing (an HTTP 503, say)."""

    failed: bool = False


class CircuitBreaker:
    def __init__(
        self, settings: BreakerSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._consecutive = 0
        self._trials = 0
        self._trial_successes = 0
        self._failures = 0
        self._successes = 0
        self._rejected = 0
        self._times_opened = 0

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._cooled_down():
            return BreakerState.HALF_OPEN
        return self._state

    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self._settings.cooldown

    def allow(self) -> bool:
        """Whether a call may go through now (counts it as a trial when half-open)."""
        if not self._settings.enabled:
            return True
        if self._state is BreakerState.OPEN:
            if not self._cooled_down():
                self._rejected += 1
                return False
            self._state = BreakerState.HALF_OPEN
            self._trials = 0
            self._trial_successes = 0
        if self._state is BreakerState.HALF_OPEN:
            if self._trials >= self._settings.half_open_max_calls:
                self._rejected += 1
                return False
            self._trials += 1
        return True

    def record_success(self, *, trial: bool) -> None:
        self._successes += 1
        self._consecutive = 0
        if trial and self._state is BreakerState.HALF_OPEN:
            self._trials -= 1
            self._trial_successes += 1
            if self._trial_successes >= self._settings.half_open_successes:
                self._state = BreakerState.CLOSED

    def record_failure(self, *, trial: bool) -> None:
        self._failures += 1
        self._consecutive += 1
        if trial and self._state is BreakerState.HALF_OPEN:
            self._trials -= 1
            self._open()
        elif (
            self._state is BreakerState.CLOSED
            and self._consecutive >= self._settings.failure_threshold
        ):
            self._open()

    def release(self, *, trial: bool) -> None:
        """A call ended without a verdict (cancelled): give its trial slot back."""
        if trial and self._state is BreakerState.HALF_OPEN:
            self._trials -= 1

    def _open(self) -> None:
        if self._settings.enabled:
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()
            self._times_opened += 1

    @contextmanager
    def guard(self) -> Generator[Outcome]:
        """Around one call that :meth:`allow` admitted: an ``Exception`` counts as a
        failure, cancellation (a ``BaseException``) as nothing."""
        trial = self._state is BreakerState.HALF_OPEN
        outcome = Outcome()
        try:
            yield outcome
        except Exception:
            self.record_failure(trial=trial)
            raise
        except BaseException:
            self.release(trial=trial)
            raise
        if outcome.failed:
            self.record_failure(trial=trial)
        else:
            self.record_success(trial=trial)

    def statistics(self) -> BreakerStatistics:
        state = self.state
        retry_in = 0.0
        if state is BreakerState.OPEN:
            retry_in = max(0.0, self._settings.cooldown - (self._clock() - self._opened_at))
        return BreakerStatistics(
            state=state,
            consecutive_failures=self._consecutive,
            total_failures=self._failures,
            total_successes=self._successes,
            rejected=self._rejected,
            times_opened=self._times_opened,
            retry_in=retry_in,
        )
