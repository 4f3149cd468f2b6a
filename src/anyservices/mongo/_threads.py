"""The one place driver calls run: a worker thread under a CapacityLimiter.

Cancellation semantics: a thread cannot be interrupted, so a cancelled ``await``
waits for its driver call to finish (``abandon_on_cancel=False``) and then raises the
cancellation; the call's result is dropped (a write outside a transaction stays
written; inside ``transaction()`` the transaction is aborted, so nothing is written).
Waiting keeps the limiter honest: a token is held exactly while a thread runs a driver
call, so ``max_pool_size`` bounds threads too. The wait is bounded: the caller's
deadline (``anyio.fail_after``...) is passed to the driver as a PyMongo CSOT timeout
(``pymongo.timeout``), together with the config's ``timeout_ms``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import pymongo

from ._errors import DRIVER_ERRORS, map_error

__all__ = ("MongoStatistics", "ThreadRunner")

T = TypeVar("T")


@dataclass(frozen=True)
class MongoStatistics:
    """A snapshot of the worker threads running driver calls."""

    #: The limiter's size (``max_pool_size``).
    max_threads: int
    #: Driver calls running in a thread right now.
    threads_in_use: int
    #: The most driver calls that ever ran at once.
    peak_threads_in_use: int
    #: Callers waiting for a thread.
    waiting: int
    #: Driver calls finished (successfully or not).
    calls: int
    #: Driver calls that raised.
    errors: int


class ThreadRunner:
    def __init__(self, size: int, *, timeout_ms: int | None) -> None:
        self.limiter = anyio.CapacityLimiter(size)
        self._timeout = None if timeout_ms is None else timeout_ms / 1000
        self._lock = threading.Lock()
        self._in_use = 0
        self._peak = 0
        self._calls = 0
        self._errors = 0

    def statistics(self) -> MongoStatistics:
        with self._lock:
            return MongoStatistics(
                max_threads=int(self.limiter.total_tokens),
                threads_in_use=self._in_use,
                peak_threads_in_use=self._peak,
                waiting=self.limiter.statistics().tasks_waiting,
                calls=self._calls,
                errors=self._errors,
            )

    def _budget(self, timeout: float | None) -> float | None:
        """Seconds the driver may spend: the caller's deadline or the timeout, the lesser."""
        deadline = anyio.current_effective_deadline()
        budget = self._timeout if timeout is None else timeout
        if not math.isinf(deadline):
            left = max(deadline - anyio.current_time(), 0.001)
            budget = left if budget is None else min(budget, left)
        return budget

    def _in_thread(self, budget: float | None, func: Callable[[], T]) -> T:
        with self._lock:
            self._in_use += 1
            self._peak = max(self._peak, self._in_use)
        failed = True
        try:
            if budget is None:
                result = func()
            else:
                with pymongo.timeout(budget):
                    result = func()
            failed = False
            return result
        finally:
            with self._lock:
                self._in_use -= 1
                self._calls += 1
                self._errors += failed

    async def run(
        self,
        func: Callable[[], T],
        *,
        operation: str,
        resource: str | None = None,
        driver_timeout: float | None = None,
    ) -> T:
        """Run ``func`` in a worker thread; driver errors come out as ``MongoError``.

        ``driver_timeout`` (seconds) replaces ``timeout_ms`` for this call (a caller deadline
        still applies).
        """
        budget = self._budget(driver_timeout)
        try:
            result = await anyio.to_thread.run_sync(
                self._in_thread, budget, func, limiter=self.limiter
            )
        except DRIVER_ERRORS as exc:
            raise map_error(exc, operation=operation, resource=resource) from exc
        # A cancelled caller waited for its thread; it gets the cancellation, not the
        # result, on every backend (trio would otherwise hand the result back).
        await anyio.lowlevel.checkpoint_if_cancelled()
        return result


def call(func: Callable[..., T], *args: Any, **kwargs: Any) -> Callable[[], T]:
    """``func(*args, **kwargs)`` as a thunk (a ``functools.partial`` spelled for readers)."""
    return lambda: func(*args, **kwargs)
