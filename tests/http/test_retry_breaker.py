"""Unit tests of the retry policy and the circuit breaker (no network)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyservices.http._breaker import BreakerSettings, BreakerState, CircuitBreaker
from anyservices.http._retry import RetryPolicy, backoff_delay, parse_retry_after


@given(
    retry=st.integers(1, 40),
    base=st.floats(0.001, 5),
    cap=st.floats(0.01, 60),
    seed=st.integers(0, 2**32),
)
def test_full_jitter_stays_within_the_exponential_cap(
    retry: int, base: float, cap: float, seed: int
) -> None:
    policy = RetryPolicy(backoff_base=base, backoff_max=cap)
    delay = backoff_delay(policy, retry, random.Random(seed))
    assert 0 <= delay <= min(cap, base * 2 ** (retry - 1))


def test_jitter_spreads_delays() -> None:
    policy = RetryPolicy(backoff_base=1, backoff_max=100)
    rng = random.Random(7)
    delays = {round(backoff_delay(policy, 5, rng), 6) for _ in range(50)}
    assert len(delays) > 40


def test_retry_after_forms() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now) == 30.0
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now) == 0.0
    assert parse_retry_after("Tue, 01 Jan 2030 00:00:10 -0000", now) == 10.0  # no zone: UTC
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None


def test_policy_validation_names_the_field() -> None:
    with pytest.raises(pydantic.ValidationError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(pydantic.ValidationError, match="failure_threshold"):
        BreakerSettings(failure_threshold=0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(**settings: float) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(BreakerSettings.model_validate(settings), clock=clock), clock


def state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # a call, so that type checkers do not narrow across calls


def fail(breaker: CircuitBreaker) -> None:
    assert breaker.allow()
    with pytest.raises(RuntimeError), breaker.guard():
        raise RuntimeError


def succeed(breaker: CircuitBreaker) -> None:
    assert breaker.allow()
    with breaker.guard():
        pass


def test_breaker_cycle() -> None:
    breaker, clock = make(failure_threshold=3, cooldown=10, half_open_successes=2)
    fail(breaker)
    fail(breaker)
    succeed(breaker)  # a success resets the consecutive count
    for _ in range(3):
        fail(breaker)
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.statistics().retry_in == 10
    clock.now += 10
    assert breaker.statistics().state is BreakerState.HALF_OPEN
    succeed(breaker)
    assert state(breaker) is BreakerState.HALF_OPEN  # needs two successes
    succeed(breaker)
    assert state(breaker) is BreakerState.CLOSED
    stats = breaker.statistics()
    assert (stats.total_failures, stats.total_successes, stats.rejected) == (5, 3, 1)
    assert stats.times_opened == 1


def test_half_open_admits_limited_trials_and_reopens_on_failure() -> None:
    breaker, clock = make(failure_threshold=1, cooldown=5, half_open_max_calls=2)
    fail(breaker)
    clock.now += 5
    assert breaker.allow()
    assert breaker.allow()
    assert not breaker.allow()  # two trials in flight already
    breaker.record_failure(trial=True)
    assert state(breaker) is BreakerState.OPEN
    assert breaker.statistics().times_opened == 2


def test_outcome_failed_and_cancellation() -> None:
    breaker, clock = make(failure_threshold=1, cooldown=1)
    assert breaker.allow()
    with breaker.guard() as outcome:
        outcome.failed = True  # a 503 raises nothing but counts
    assert state(breaker) is BreakerState.OPEN
    clock.now += 1
    assert breaker.allow()
    with pytest.raises(KeyboardInterrupt), breaker.guard():
        raise KeyboardInterrupt  # no verdict: the trial slot comes back
    assert breaker.allow()


def test_disabled_breaker_never_opens() -> None:
    breaker, _ = make(failure_threshold=1)
    breaker = CircuitBreaker(BreakerSettings(enabled=False, failure_threshold=1))
    for _ in range(5):
        fail(breaker)
    assert state(breaker) is BreakerState.CLOSED
