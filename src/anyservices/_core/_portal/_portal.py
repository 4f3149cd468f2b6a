"""The portal: a loop thread that runs calls for blocking threads, and how both wait.

See the package docstring for the design; the backend's serve loop (``_asyncio``,
``_trio``) provides the few primitives that differ per backend.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import threading
import time
import types
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Final, Literal, NoReturn, ParamSpec, TypeVar, cast

import anyio

from .._errors import ServiceClosedError, SyncFaceInLoopError
from .._threads import INLINE_ATTRIBUTE
from ._adapters import SyncContextManager, iterate
from ._call import (
    Call,
    Cancellable,
    Outcome,
    Request,
    WorkerBody,
    cancel_call,
    drive,
    run_inline,
)

__all__ = ("Backend", "Portal")

Backend = Literal["asyncio", "trio"]
T = TypeVar("T")
P = ParamSpec("P")

_LOOP_SPIN: Final = 200e-6
"""How long the poller stays hot after the last call, in seconds."""
_LOOP_TICK: Final = 200e-6
"""While no call is in flight, how often a hot poller lets the loop iterate, in seconds.

In between it runs calls inline and waits in GIL-free pauses, blocking the loop: its
other tasks and I/O wait up to this long while a thread hammers the portal. Iterations
hold the GIL, and a caller that wants the GIL meanwhile sleeps on it (~20 µs to wake):
measured, ticking every 50 µs instead doubled those sleeps."""
# A caller parks on its lock at once. It used to poll for its result first, in busy
# pauses, which kept it out of a kernel wake-up but made it take the GIL every ~1.5 µs:
# the loop thread, running the call, then waited for the GIL at each of its syscalls.
# Measured (2026-12-02, 2 CPUs, medians of 5-7 interleaved rounds of 2,000 calls), no-op /
# sync-face Redis GET: idle machine, asyncio 32 / 217 µs polling, 28 / 186 parked (trio
# 32 / 206 and 28 / 175); one CPU-bound process beside, 16.5 / 516 both ways; two, asyncio
# 3163 / 3629 polling, 1226 / 1526 parked. The poller's spin (``_LOOP_SPIN``) stays: without
# it the same no-op took 118 µs. When the scheduler puts caller and poller on one CPU, the
# poller's pauses keep the caller off it, so the poller yields the CPU after each call.

_sniffio_thread: Any = types.SimpleNamespace(name=None)  # sniffio's thread-local, if installed
with contextlib.suppress(ImportError):  # no sniffio, no trio: then only asyncio can be running
    import sniffio

    _sniffio_thread = sniffio.thread_local
_modules: Final = sys.modules


def _in_event_loop() -> bool:
    """Whether the calling thread runs an event loop; cheap, as every sync call asks.

    Trio (and the portal, see ``_claim_thread_for``) name their thread's loop in sniffio's
    thread-local; asyncio keeps its own, asked only if asyncio was imported: a process
    that never imported it runs no asyncio loop. Importing anyservices must not import
    asyncio. Tools that import a package to locate it and then drop from ``sys.modules``
    what that import brought in (``coverage run --source=anyservices.redis`` does, for
    the parent package) leave the C ``_asyncio`` module, which is never re-initialised,
    raising the first import's ``CancelledError`` while the program's re-imported asyncio
    (and anyio) catch another class: every cancellation then escapes.
    """
    if _sniffio_thread.name is not None:
        return True
    asyncio = _modules.get("asyncio")
    return asyncio is not None and asyncio._get_running_loop() is not None  # noqa: SLF001 -- its cheap thread-local check


_clock: Final = time.perf_counter
# The hot poller's pause: it releases the GIL but keeps the CPU busy (CPython's crc32 drops
# the GIL for buffers over 5 KiB, ~0.3 ns a byte). A sleep would let the vCPU halt, and on
# this kind of VM waking a halted vCPU costs ~20 µs, more than a whole call. The poller sees
# a queued call only between pauses, so they are short (24 KiB made a no-op 34 µs instead
# of 39 on 2 busy CPUs; 96 KiB, 43 µs instead of 26 on an idle machine).
_pause: Final = functools.partial(zlib.crc32, bytes(12 * 1024))  # ~3.5 µs
_yield_cpu: Final[Callable[[], object]] = (
    functools.partial(time.sleep, 0) if sys.platform == "win32" else os.sched_yield
)


class Portal:
    """An event loop on a daemon thread that runs coroutines for blocking callers."""

    def __init__(self, backend: Backend) -> None:
        self.backend: Final = backend
        self._queue: deque[Call] = deque()
        self._closed = True  # until start() and again from stop(): calls are refused
        self._forked = False  # this process is a child forked off the portal's process
        self._idle = False  # no poller is awake (asleep, or none): a caller must wake the loop
        self._polling = False  # a worker polls the queue (awake or asleep)
        self._thread: threading.Thread | None = None
        self._loop_thread_id: int | None = None
        # Set on the loop thread before start() returns:
        self._threadsafe: Callable[..., object] = _not_started
        self._spawn: Callable[[WorkerBody], object] = _not_started
        self._sleep: Callable[[float], Awaitable[object]] = anyio.sleep
        self._cancelled_exc: type[BaseException] = BaseException
        self._wakeup: anyio.Event | None = None
        self._stopped: anyio.Event | None = None
        self._in_flight = 0  # suspended calls (other than background ones)

    def __repr__(self) -> str:
        state = "forked" if self._forked else "stopped" if self._closed else "running"
        return f"<Portal {self.backend} {state}>"

    @property
    def forked(self) -> bool:
        """Whether this process was forked off the one the portal runs in."""
        return self._forked

    def forsake(self) -> None:
        """In a child after ``os.fork()``: the loop thread stayed in the parent."""
        self._forked = self._closed = True
        self._thread = None

    # -- lifecycle (called under the registry lock) --------------------------------

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            try:
                anyio.run(self._main, ready, backend=self.backend)
            except BaseException as exc:  # noqa: BLE001 -- reported to start(), which re-raises it
                failure.append(exc)
            finally:
                self._closed = True
                self._fail_queued()
                ready.set()

        self._thread = threading.Thread(target=main, name=f"anyservices-portal-{self.backend}")
        self._thread.daemon = True  # a program that never leaves its `with` can still exit
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        self._closed = True
        if thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has already finished
            self._threadsafe(self._on_stop)
        if threading.get_ident() != self._loop_thread_id:
            thread.join()

    def _on_stop(self) -> None:  # runs on the loop thread, so after _main set _stopped
        assert self._stopped is not None  # noqa: S101 -- see above
        self._stopped.set()
        self._wake_poller()

    async def _main(self, ready: threading.Event) -> None:
        _claim_thread_for(self.backend)
        self._loop_thread_id = threading.get_ident()
        self._stopped = stopped = anyio.Event()
        self._cancelled_exc = anyio.get_cancelled_exc_class()
        backend = importlib.import_module(f"{__package__}._{self.backend}")
        await backend.serve(self, ready, stopped)

    # -- what a backend's serve loop calls ---------------------------------------------

    def _serving(
        self,
        *,
        threadsafe: Callable[..., object],
        spawn: Callable[[WorkerBody], object],
        sleep: Callable[[float], Awaitable[object]],
    ) -> None:
        """The loop runs: take its primitives, open for calls and start the poller."""
        self._threadsafe = threadsafe
        self._spawn = spawn
        self._sleep = sleep
        self._closed = False
        self._polling = True
        spawn(self._poll)

    def _stopping(self) -> None:
        """The loop is about to end: refuse calls and fail the queued ones."""
        self._closed = True
        self._fail_queued()

    # -- the loop side ---------------------------------------------------------------

    async def _poll(self, worker: Cancellable) -> None:
        """Poll the queue and run calls inline until one suspends; then leave the polling."""
        queue, sleep = self._queue, self._sleep
        hot_until = next_tick = _clock() + _LOOP_SPIN
        call: Call | None = None
        try:
            while not self._closed:
                if queue and (call := self._next_call()) is not None:
                    call.worker = worker
                    call.polled = True
                    if not self._first_step(call):  # it suspended: stay with it to its end
                        await self._run(call)
                        if not self._take_over(worker):
                            return  # another worker polls now (see _on_suspend)
                        call = None
                        hot_until = next_tick = _clock() + _LOOP_SPIN
                        continue
                    call.finish()
                    now = _clock()
                    hot_until = now + _LOOP_SPIN
                    if self._in_flight or now >= next_tick:  # let other tasks and I/O run
                        next_tick = now + _LOOP_TICK
                        await sleep(0)
                    if not queue:
                        _yield_cpu()  # if its caller shares our CPU, it runs now
                elif _clock() < hot_until and not self._in_flight:
                    # Nothing else to do: wait for a call with the GIL free, with a loop
                    # iteration now and then. (With calls in flight the loop has work,
                    # and a busy loop would hog the GIL that their parked callers need.)
                    _pause()
                    if _clock() >= next_tick:
                        next_tick = _clock() + _LOOP_TICK
                        _yield_cpu()
                        await sleep(0)
                else:
                    await self._sleep_until_called()
                    hot_until = _clock() + _LOOP_SPIN
        finally:
            if not self._closed and not (call is not None and call.suspended):
                self._spawn(self._poll)  # the poller is leaving early: keep the portal served

    async def _sleep_until_called(self) -> None:
        self._wakeup = wakeup = anyio.Event()
        self._idle = True
        try:
            # Callers append first and look at _idle second, so a call appended before
            # _idle was set is seen here, and one appended after it wakes us.
            if not self._queue and not self._closed:
                await wakeup.wait()
        finally:
            self._idle = False
            self._wakeup = None

    def _first_step(self, call: Call) -> bool:
        """Run ``call`` inline up to its first suspension; whether it finished."""
        try:
            return call.first_step()
        except self._cancelled_exc as exc:
            self._cancelled(call, exc)
            call.finish()
            raise
        except BaseException as exc:  # noqa: BLE001 -- handed to the waiting thread, which re-raises it
            call.error = exc
            return True

    def _cancelled(self, call: Call, exc: BaseException) -> None:
        if not self._closed and not call.cancelled:  # not by us: the call cancelled itself
            call.error = RuntimeError("the call was cancelled on the portal's loop")
            call.error.__cause__ = exc

    async def _run(self, call: Call) -> None:
        try:
            call.value = await drive(self, call)
        except self._cancelled_exc as exc:
            self._cancelled(call, exc)
            raise
        except BaseException as exc:  # noqa: BLE001 -- handed to the waiting thread, which re-raises it
            call.error = exc
        finally:
            if call.suspended and not call.background:
                self._in_flight -= 1
                if not self._in_flight and self._wakeup is not None:
                    self._wakeup.set()  # its caller may call again soon: be hot for it
            call.finish()

    def _take_over(self, worker: Cancellable) -> bool:
        """After a call, poll on if no worker polls (see _on_suspend); whether to.

        Not a worker whose call was cancelled: its scope stays cancelled.
        """
        return not worker.cancel_called and self._claim_polling()

    def _claim_polling(self) -> bool:
        """Become the poller if there is none (and the portal is open); whether it did."""
        if self._polling or self._closed:
            return False
        self._polling, self._idle = True, False
        return True

    def _next_call(self) -> Call | None:
        """The next queued call to run, finishing those whose callers gave up; or None."""
        while True:
            try:
                call = self._queue.popleft()
            except IndexError:  # empty (maybe emptied by another thread meanwhile)
                return None
            if not call.cancelled:
                return call
            call.finish()

    async def _run_queued(self, call: Call, worker: Cancellable) -> None:
        """Run a call taken off the queue by a poller leaving the polling (_on_suspend)."""
        call.worker = worker
        await self._run(call)
        if self._take_over(worker):
            await self._poll(worker)

    def _on_suspend(self, call: Call) -> None:
        """``call`` suspends for the first time."""
        call.suspended = True
        if not call.background:
            self._in_flight += 1
        if call.polled and not self._closed:
            # Its worker leaves the polling. The new poller starts next loop iteration and
            # takes one call at a time, so the calls queued meanwhile (concurrent callers)
            # get a task each now: they start together, and the Redis layer can pipeline.
            # (Called outside the call's context, which they must not inherit.)
            # With nothing queued, no poller is started: the first worker done with its
            # call polls on (a lone caller's next call finds it hot), or a caller wakes
            # the loop for one (``_idle``, set before the queue is looked at).
            self._idle = True
            queued = self._next_call()
            if queued is None:
                self._polling = False
                return
            while queued is not None:
                self._spawn(functools.partial(self._run_queued, queued))
                queued = self._next_call()
            self._idle = False
            self._spawn(self._poll)

    def _wake_poller(self) -> None:  # runs on the loop thread
        if self._claim_polling():  # there was none: start one
            self._spawn(self._poll)
        elif self._wakeup is not None:
            self._wakeup.set()

    def _fail_queued(self) -> None:
        """Fail the calls no worker will ever start (the portal is closed)."""
        while True:
            try:
                call = self._queue.popleft()
            except IndexError:  # empty (maybe emptied by another thread meanwhile)
                return
            call.finish(ServiceClosedError("the portal stopped before the call started"))

    # -- the calling threads' side ---------------------------------------------------

    def call(self, func: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``await func(*args, **kwargs)`` on the loop and return its result (in this
        thread, for an operation marked ``inline_on_sync_face``)."""
        if _in_event_loop():
            self._refuse_caller()  # this thread runs an event loop: the call would block it
        self._check_open()
        if getattr(func, INLINE_ATTRIBUTE, False):
            return run_inline(func, args, kwargs)
        call = Call(func, args, kwargs)
        self._submit(call)
        self._await(call, call)
        return cast("T", call.result())

    def in_event_loop(self) -> bool:
        """Whether the calling thread runs an event loop (this portal's or another)."""
        return _in_event_loop()

    def _check_caller(self) -> None:
        """Refuse to block an event loop: this portal's, or one the calling thread runs."""
        if self.in_event_loop():
            self._refuse_caller()

    def _refuse_caller(self) -> NoReturn:
        if threading.get_ident() == self._loop_thread_id:
            raise SyncFaceInLoopError(
                "a sync face was called from inside its own portal's event loop"
            )
        library = _sniffio_thread.name or "asyncio"
        raise SyncFaceInLoopError(
            f"a sync face was called from a thread that runs an event loop ({library}),"
            " which the call would block: use the async face here (await the service's"
            " method), or make the sync call from a worker thread"
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ServiceClosedError(
                _FORKED
                if self._forked
                else "the sync face is closed: use it inside its `with` block"
            )

    def _submit(self, call: Call) -> None:
        """Queue ``call``, waking the loop if no poller is awake."""
        self._queue.append(call)
        if self._closed:  # closed meanwhile: the loop may have drained the queue already
            self._fail_queued()
        elif self._idle:
            self._on_loop(self._wake_poller)

    def _await(self, call: Call, outcome: Outcome) -> None:
        """Block until ``outcome`` is done, running the requests it brings meanwhile."""
        self._wait(call, outcome.lock)
        while not outcome.done:  # woken to run plain functions for the loop (call_user)
            outcome.signalled = False  # re-armed: the loop's next signal releases the lock
            self._serve(call, cast("deque[Request]", outcome.requests))
            if not outcome.done:  # (done meanwhile, its signal may have found us signalled)
                self._wait(call, outcome.lock)

    def _serve(self, call: Call, requests: deque[Request]) -> None:
        """Run the plain functions the loop asked this (waiting) thread to run."""
        while requests:
            request = requests.popleft()
            if request.abandoned:
                continue
            try:
                request.value = request.context.run(request.func, *request.args, **request.kwargs)
            except Exception as exc:  # noqa: BLE001 -- handed to the loop, which re-raises it
                request.error = exc
            except BaseException:
                # Interrupted (e.g. Ctrl-C) in the user's function: as when interrupted
                # while waiting, cancel our call and raise here.
                request.error = RuntimeError("the calling thread was interrupted")
                self._on_loop(request.done.set)
                call.cancelled = True
                self._on_loop(cancel_call, call)
                raise
            self._on_loop(request.done.set)

    def _wait(self, call: Call, lock: threading.Lock) -> None:
        """Block until the loop releases ``lock``; if interrupted, cancel ``call``."""
        try:
            lock.acquire()
        except BaseException:
            # Interrupted (e.g. Ctrl-C) while waiting: cancel our call, keep the portal.
            call.cancelled = True
            self._on_loop(cancel_call, call)
            raise

    def _on_loop(self, callback: Callable[..., object], *args: object) -> None:
        """``callback(*args)`` on the loop thread soon, unless the portal has closed."""
        try:
            self._threadsafe(callback, *args)
        except RuntimeError:  # the loop has finished: it failed or cancelled every call
            if not self._closed:
                raise

    def schedule(self, callback: Callable[..., object], *args: object) -> None:
        """Run the plain ``callback(*args)`` on the loop thread soon (no waiting)."""
        if self._closed:
            raise ServiceClosedError(_FORKED if self._forked else "the portal has stopped")
        self._threadsafe(callback, *args)

    # -- adapters for the sync faces ------------------------------------------------

    def wrap_cm(
        self,
        cm: AbstractAsyncContextManager[T],
        wrap: Callable[[Portal, T], Any] | None = None,
    ) -> AbstractContextManager[Any, bool]:
        """Turn an async context manager into a ``with`` block run by one loop task."""
        return SyncContextManager(self, cm, wrap)

    def wrap_iter(
        self, iterator: AsyncIterator[T], wrap: Callable[[Portal, T], Any] | None = None
    ) -> Iterator[Any]:
        """Turn an async iterator into an iterator; leaving the loop early closes it."""
        return iterate(self, iterator, wrap)


_FORKED: Final = (
    "this sync face was opened before os.fork(), in the parent process, where its portal"
    " thread runs: open a new face in this process"
)


def _not_started(*_: object) -> None:
    raise RuntimeError("the portal's loop has not started")


def _claim_thread_for(backend: Backend) -> None:
    """Tell sniffio this thread runs ``backend``, also inside plain loop callbacks."""
    with contextlib.suppress(ImportError):  # no sniffio: anyio then assumes asyncio, rightly
        import sniffio  # noqa: PLC0415 -- optional for anyio on asyncio

        sniffio.thread_local.name = backend
