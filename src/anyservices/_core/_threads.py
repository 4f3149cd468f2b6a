"""The one worker-thread runner of the thread-backed services (MongoDB, MinIO).

Cancellation semantics: a thread cannot be interrupted, so a caller cancelled while its
call runs waits for the thread to finish (``abandon_on_cancel=False``) and then raises
the cancellation on every backend; the call's result (or error) is dropped. A caller
cancelled while it waits for a thread never starts one. Waiting keeps the limiter
honest: a token is held exactly while a thread runs a call, so ``size`` bounds the
threads. Services bound the wait by passing the caller's deadline on to the driver
(see ``budget``) through ``wrap``, which runs in the worker thread around the call.

On a sync face, an operation marked :func:`inline_on_sync_face` runs whole in the
calling thread, as the plain driver would: the portal steps its coroutine there with
``inline`` set, and :meth:`ThreadRunner.run` then calls the driver at once instead of
awaiting a worker thread, so the coroutine finishes without suspending (no portal and no
thread hop; the same code, mapping and telemetry). Such calls are bounded by ``size`` too, with
a semaphore of their own (the anyio limiter belongs to the loop): a service used from both
faces at once may run up to ``size`` calls of each.
"""

from __future__ import annotations

import contextvars
import math
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

__all__ = (
    "INLINE_ATTRIBUTE",
    "ThreadRunner",
    "ThreadStatistics",
    "budget",
    "inline",
    "inline_on_sync_face",
)

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])

#: Set (True) on the functions :func:`inline_on_sync_face` marks.
INLINE_ATTRIBUTE: Final = "__anyservices_inline__"
inline: contextvars.ContextVar[bool] = contextvars.ContextVar("anyservices_inline", default=False)
"""True while a sync face runs an operation in its calling thread."""


def inline_on_sync_face(func: F) -> F:
    """Mark a coroutine function whose only awaits are :meth:`ThreadRunner.run` calls:
    the sync face runs it in the calling thread (see the module's docstring)."""
    setattr(func, INLINE_ATTRIBUTE, True)
    return func


@dataclass(frozen=True)
class ThreadStatistics:
    """A snapshot of the worker threads running a service's blocking calls."""

    #: The limiter's size: at most this many calls run at once.
    max_threads: int
    #: Calls running in a thread right now.
    threads_in_use: int
    #: The most calls that ever ran at once.
    peak_threads_in_use: int
    #: Callers waiting for a thread.
    waiting: int
    #: Calls finished (successfully or not).
    calls: int
    #: Calls that raised.
    errors: int


class _Failure:
    """What a call raised, carried out of the thread (so no ``except`` wraps an await)."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def budget(timeout: float | None) -> float | None:
    """Seconds a blocking call may take: ``timeout`` or the caller's deadline, the sooner.

    None when neither is set. A deadline already passed leaves a millisecond, so the
    driver fails at once with its own timeout error. A sync caller has no deadline.
    """
    if inline.get():
        return timeout
    deadline = anyio.current_effective_deadline()
    if deadline == math.inf:  # -inf: already cancelled
        return timeout
    left = max(deadline - anyio.current_time(), 0.001)
    return left if timeout is None else min(timeout, left)


class ThreadRunner:
    """Runs blocking calls in worker threads, at most ``size`` at once, and counts them."""

    def __init__(self, size: int, *, name: str) -> None:
        self.name = name
        self.limiter = anyio.CapacityLimiter(size)
        self._lock = threading.Lock()
        self._in_use = 0
        self._peak = 0
        self._calls = 0
        self._errors = 0
        self._slots = threading.Semaphore(size)  # the bound of inline (sync-face) calls
        self._waiting = 0  # inline calls waiting for a slot

    def __repr__(self) -> str:
        return f"<ThreadRunner {self.name} size={int(self.limiter.total_tokens)}>"

    def statistics(self) -> ThreadStatistics:
        """Threads in use, their peak, waiting callers, calls and errors."""
        with self._lock:
            return ThreadStatistics(
                max_threads=int(self.limiter.total_tokens),
                threads_in_use=self._in_use,
                peak_threads_in_use=self._peak,
                waiting=self.limiter.statistics().tasks_waiting + self._waiting,
                calls=self._calls,
                errors=self._errors,
            )

    def gauges(self) -> dict[str, int]:
        """The worker-thread gauges of a service that runs its calls here (``_gauges.py``)."""
        stats = self.statistics()
        return {
            "anyservices.threads.in_use": stats.threads_in_use,
            "anyservices.threads.waiting": stats.waiting,
            "anyservices.threads.limit": stats.max_threads,
        }

    def _inline(self, func: Callable[[], T]) -> T | _Failure:
        if not self._slots.acquire(blocking=False):
            with self._lock:
                self._waiting += 1
            try:
                self._slots.acquire()
            finally:
                with self._lock:
                    self._waiting -= 1
        try:
            return self._in_thread(func)
        finally:
            self._slots.release()

    def _in_thread(self, func: Callable[[], T]) -> T | _Failure:
        with self._lock:
            self._in_use += 1
            self._peak = max(self._peak, self._in_use)
        failed = True
        try:
            result = func()
            failed = False
        except Exception as exc:  # noqa: BLE001 -- carried out and raised in the caller's task
            return _Failure(exc)
        finally:
            with self._lock:
                self._in_use -= 1
                self._calls += 1
                self._errors += failed
        return result

    async def run(
        self,
        func: Callable[[], T],
        *,
        map_errors: Callable[[], AbstractContextManager[None]] | None = None,
        wrap: Callable[[Callable[[], T]], Callable[[], T]] | None = None,
    ) -> T:
        """``func()`` in a worker thread; what it raises goes through ``map_errors()``.

        ``wrap(func)`` is what the thread runs (e.g. ``func`` under a driver timeout).
        """
        work = func if wrap is None else wrap(func)
        if inline.get():  # a sync face's calling thread: it is the worker (no await)
            outcome = self._inline(work)
        else:
            outcome = await anyio.to_thread.run_sync(self._in_thread, work, limiter=self.limiter)
            # A cancelled caller waited for its thread; it gets the cancellation, not the
            # outcome, on every backend (trio and asyncio would otherwise hand it back).
            await anyio.lowlevel.checkpoint_if_cancelled()
        if not isinstance(outcome, _Failure):
            return outcome
        error = outcome.error
        try:
            if map_errors is not None:
                with map_errors():
                    raise error
            raise error
        finally:
            del error, outcome  # no traceback <-> frame cycle
