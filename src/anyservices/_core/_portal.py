"""One event-loop thread per backend, shared by every sync face.

``Portal.call`` runs a coroutine function on the portal's loop and blocks the calling
thread until it finishes. On a small VM the dominant cost is waking a sleeping thread
(~20 µs: its vCPU has halted), and under the GIL a thread also sleeps whenever it wants
the GIL while the other thread holds it. So while calls are flowing nobody sleeps:

* a caller appends its call to a deque (no lock, no syscall), then waits in pauses that
  release the GIL but keep the CPU busy (``_long_pause`` first, about the time the loop
  takes to see and run a call, then ``_short_pause``), polling its result lock between
  them, for up to ``_CALLER_SPIN``, or less if the poller stalls; then it parks on the
  lock. One caller spins at a time: more spinners would only take the GIL from the loop;
* on the loop, one *poller* task watches the deque. For ``_LOOP_SPIN`` after the last
  call it stays hot, waiting in the same GIL-free pauses while no call is in flight;
  then it blocks in the selector, and the next caller wakes it thread-safely.

Both spins are bounded, and both sides also yield the CPU (in case the scheduler put
them on the same one), so an idle portal costs no CPU and a busy machine no livelock.
``sys.setswitchinterval`` is left alone.

The poller runs each call inline: most calls finish without suspending, and then no task
was created or switched to. When a call first suspends, the poller hands the polling to
a new worker task and stays with that call, so every call in flight has a task of its
own and concurrent callers' calls overlap. Each call runs in its own copy of the
context, as a task would.

Calls are independent: an exception (even ``KeyboardInterrupt``) in one call is
re-raised in its caller only; a caller interrupted while waiting cancels its call (by
cancelling the worker task running it, which then ends) and leaves the portal running
for everybody else.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import sys
import threading
import time
import types
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import Any, Final, Literal, ParamSpec, Protocol, TypeVar, cast

import anyio

from ._errors import ServiceClosedError

__all__ = ("Backend", "Portal", "acquire_portal", "release_portal")

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
_CALLER_SPIN: Final = 200e-6
"""How long a caller polls for its result before parking on its lock, in seconds."""
_CALLER_STALL: Final = 50e-6
"""A polling caller parks early when the poller has not moved for this long, in seconds.

The poller is then not running: busy with a long call, asleep, or waiting for a CPU,
maybe the very one this caller spins on (another process hogging the other CPU)."""
_CALLER_YIELD_AFTER: Final = 10e-6
"""After this long a polling caller also yields its CPU between pauses, in seconds.

Busy pauses are right when caller and loop run on two CPUs, but when the scheduler puts
them on one (say another process keeps the other busy) each pause keeps the other thread
off the CPU; so both yield it too: the caller after a while, the poller after each call.
Measured with a CPU hog beside: 28 µs a call instead of 204."""

_clock: Final = time.perf_counter
# Pauses that release the GIL but keep the CPU busy: CPython's crc32 drops the GIL for
# buffers over 5 KiB (~0.3 ns a byte). A sleep would let the vCPU halt, and on this kind
# of VM waking a halted vCPU costs ~20 µs, more than a whole call.
_short_pause: Final = functools.partial(zlib.crc32, bytes(12 * 1024))  # ~3 µs
_long_pause: Final = functools.partial(zlib.crc32, bytes(24 * 1024))  # ~7 µs: a call's turn
_yield_cpu: Final[Callable[[], object]] = (
    functools.partial(time.sleep, 0) if sys.platform == "win32" else os.sched_yield
)

_EMPTY: Final = object()


class _Cancellable(Protocol):
    def cancel(self) -> object: ...


_WorkerBody = Callable[[_Cancellable], Awaitable[None]]
"""What a worker task runs, given what cancels the task (its asyncio task or trio scope)."""


class _Outcome:
    """Where the loop leaves a value or an error for the thread waiting on ``lock``.

    The waiting thread also runs the plain functions that the loop posts as requests
    (see ``call_user``). ``lock`` is a signal: released once per wake-up (``signalled``
    keeps the loop from releasing it twice), re-armed by the thread that acquires it.
    """

    __slots__ = ("done", "error", "lock", "requests", "signalled", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.value: Any = _EMPTY
        self.error: BaseException | None = None
        self.done = False
        self.signalled = False
        self.requests: deque[_Request] | None = None

    def _signal(self) -> None:
        if not self.signalled:
            self.signalled = True
            self.lock.release()

    def finish(self, error: BaseException | None = None) -> None:
        """Release the waiter; ``error`` is what it gets if no outcome was set."""
        if self.value is _EMPTY and self.error is None:
            self.error = error or ServiceClosedError("the portal stopped during the call")
        self.done = True
        self._signal()

    def post(self, request: _Request) -> None:  # runs on the loop thread
        """Ask the waiting thread to run ``request``."""
        if self.requests is None:
            self.requests = deque()
        self.requests.append(request)
        self._signal()

    def result(self) -> Any:
        if self.error is not None:
            error, self.error = self.error, None  # break the traceback's reference cycle
            raise error
        return self.value


class _Request:
    """A plain function the loop asks a waiting caller thread to run (``call_user``)."""

    __slots__ = ("abandoned", "args", "done", "error", "func", "kwargs", "value")

    def __init__(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = anyio.Event()
        self.abandoned = False  # the loop side stopped waiting: the result is dropped


_NO_WAITER: Final = _Outcome()
_NO_WAITER.done = True
_waiter: contextvars.ContextVar[_Outcome | None] = contextvars.ContextVar(
    "anyservices_portal_waiter", default=None
)
"""In a call's context: the outcome its blocked caller thread waits on."""


def current_waiter() -> _Outcome | None:
    """The outcome a sync-face thread waits on for the current call; None on async faces."""
    return _waiter.get()


async def run_in_caller(
    waiter: _Outcome, func: Callable[..., T], /, *args: Any, **kwargs: Any
) -> T:
    """Run the plain ``func`` in the thread blocked on ``waiter``, and wait (not blocking).

    A task that outlived its call (or a call nobody waits for) has no thread to ask:
    ``func`` then runs in a worker thread.
    """
    if waiter.done:
        return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))
    request = _Request(func, args, kwargs)
    waiter.post(request)
    try:
        await request.done.wait()
    finally:
        # Cancelled meanwhile: a plain function cannot be interrupted, so a running one
        # finishes in its thread and its result is dropped; a waiting one never runs.
        request.abandoned = not request.done.is_set()
    if request.error is not None:
        error, request.error = request.error, None
        raise error
    return cast("T", request.value)


class _Call(_Outcome):
    """One ``await func(*args, **kwargs)``, queued for the poller, run by a worker task."""

    __slots__ = (
        "args",
        "background",
        "cancelled",
        "finished",
        "func",
        "kwargs",
        "polled",
        "suspended",
        "worker",
    )

    def __init__(
        self,
        func: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        background: bool = False,
    ) -> None:
        super().__init__()
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.background = background  # lives long (a `with` block): not "in flight"
        self.cancelled = False  # its caller gave up waiting
        self.polled = False  # run by the poller, which hands the polling over if it suspends
        self.suspended = False
        self.finished = False
        self.worker: _Cancellable | None = None  # cancels the worker task running it

    def finish(self, error: BaseException | None = None) -> None:
        if self.cancelled and error is None:
            error = RuntimeError("the call was cancelled by its caller")
        self.finished = True
        super().finish(error)


class Portal:
    """An event loop on a daemon thread that runs coroutines for blocking callers."""

    def __init__(self, backend: Backend) -> None:
        self.backend: Final = backend
        self._queue: deque[_Call] = deque()
        self._closed = True  # until start() and again from stop(): calls are refused
        self._idle = False  # the poller sleeps in the selector: a caller must wake it
        self._spin_token = threading.Lock()  # held by the one caller allowed to spin
        self._thread: threading.Thread | None = None
        self._loop_thread_id: int | None = None
        # Set on the loop thread before start() returns:
        self._threadsafe: Callable[..., object] = _not_started
        self._spawn: Callable[[_WorkerBody], object] = _not_started
        self._sleep: Callable[[float], Awaitable[object]] = anyio.sleep
        self._cancelled_exc: type[BaseException] = BaseException
        self._wakeup: anyio.Event | None = None
        self._stopped: anyio.Event | None = None
        self._in_flight = 0  # suspended calls (other than background ones)
        self._beat = 0  # counts the poller's rounds: a caller sees whether it is running

    def __repr__(self) -> str:
        return f"<Portal {self.backend} {'stopped' if self._closed else 'running'}>"

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

    def _on_stop(self) -> None:  # runs on the loop thread
        if self._stopped is not None:
            self._stopped.set()
        self._wake_poller()

    async def _main(self, ready: threading.Event) -> None:
        _claim_thread_for(self.backend)
        self._loop_thread_id = threading.get_ident()
        self._stopped = anyio.Event()
        self._cancelled_exc = anyio.get_cancelled_exc_class()
        if self.backend == "trio":
            await self._serve_trio(ready)
        else:
            await self._serve_asyncio(ready)

    async def _serve_asyncio(self, ready: threading.Event) -> None:
        import asyncio  # noqa: PLC0415

        assert self._stopped is not None  # noqa: S101 -- set by _main
        loop = asyncio.get_running_loop()
        workers: set[asyncio.Task[None]] = set()  # strong references: asyncio keeps weak ones

        async def worker(body: _WorkerBody) -> None:
            task = asyncio.current_task()
            assert task is not None  # noqa: S101 -- a coroutine run by a task
            await body(task)

        def spawn(body: _WorkerBody) -> None:
            task = loop.create_task(worker(body))
            workers.add(task)
            task.add_done_callback(workers.discard)

        self._threadsafe = loop.call_soon_threadsafe
        self._spawn = spawn
        self._sleep = asyncio.sleep
        self._closed = False
        spawn(self._poll)
        ready.set()
        try:
            await self._stopped.wait()
        finally:
            self._closed = True
            self._fail_queued()
            while workers:
                for task in workers:
                    task.cancel()
                await asyncio.wait(set(workers))

    async def _serve_trio(self, ready: threading.Event) -> None:
        import trio  # noqa: PLC0415 -- trio is optional

        assert self._stopped is not None  # noqa: S101 -- set by _main

        async def worker(body: _WorkerBody) -> None:
            with trio.CancelScope() as scope:
                await body(scope)

        async with trio.open_nursery() as nursery:
            self._threadsafe = trio.lowlevel.current_trio_token().run_sync_soon
            self._spawn = lambda body: nursery.start_soon(worker, body)
            self._sleep = trio.sleep
            self._closed = False
            self._spawn(self._poll)
            ready.set()
            try:
                await self._stopped.wait()
            finally:
                self._closed = True
                self._fail_queued()
                nursery.cancel_scope.cancel()

    # -- the loop side ---------------------------------------------------------------

    async def _poll(self, worker: _Cancellable) -> None:
        """Poll the queue and run calls inline until one suspends; then leave the polling."""
        queue, sleep = self._queue, self._sleep
        hot_until = next_tick = _clock() + _LOOP_SPIN
        call: _Call | None = None
        try:
            while not self._closed:
                self._beat += 1
                if queue:
                    call = queue.popleft()
                    if call.cancelled:
                        call.finish()
                        continue
                    call.worker = worker
                    call.polled = True
                    await self._run(call)
                    if call.suspended:
                        return  # another worker polls now; this one ran its call to the end
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
                    _long_pause()
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

    async def _run(self, call: _Call) -> None:
        try:
            call.value = await _drive(self, call)
        except self._cancelled_exc as exc:
            if not self._closed and not call.cancelled:  # not by us: the call cancelled itself
                call.error = RuntimeError("the call was cancelled on the portal's loop")
                call.error.__cause__ = exc
            raise
        except BaseException as exc:  # noqa: BLE001 -- handed to the waiting thread, which re-raises it
            call.error = exc
        finally:
            if call.suspended and not call.background:
                self._in_flight -= 1
                if not self._in_flight:
                    self._wake_poller()  # its caller may call again soon: be hot for it
            call.finish()

    async def _run_queued(self, worker: _Cancellable) -> None:
        """Run one queued call (started by a poller leaving the polling, see _on_suspend)."""
        if self._closed:
            return
        try:
            call = self._queue.popleft()
        except IndexError:  # the poller took it meanwhile
            return
        if call.cancelled:
            call.finish()
        else:
            call.worker = worker
            await self._run(call)

    def _on_suspend(self, call: _Call) -> None:
        """``call`` suspends for the first time."""
        call.suspended = True
        if not call.background:
            self._in_flight += 1
        if call.polled and not self._closed:
            # Its worker leaves the polling. The new poller starts next loop iteration and
            # takes one call at a time, so the calls queued meanwhile (concurrent callers)
            # get a task each now: they start together, and the Redis layer can pipeline.
            # (Called outside the call's context, which they must not inherit.)
            for _ in range(len(self._queue)):
                self._spawn(self._run_queued)
            self._spawn(self._poll)

    def _wake_poller(self) -> None:  # runs on the loop thread
        if self._wakeup is not None:
            self._wakeup.set()

    def _fail_queued(self) -> None:
        """Fail the calls no worker will ever start (the portal is closed)."""
        queue = self._queue
        while queue:
            try:
                call = queue.popleft()
            except IndexError:  # another thread emptied it meanwhile
                return
            call.finish(ServiceClosedError("the portal stopped before the call started"))

    # -- the calling threads' side ---------------------------------------------------

    def call(self, func: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``await func(*args, **kwargs)`` on the loop and return its result."""
        if threading.get_ident() == self._loop_thread_id:
            raise RuntimeError("a sync face was called from inside its own portal's event loop")
        self._check_open()
        call = _Call(func, args, kwargs)
        self._await(call, call, patient=self._submit(call))
        return cast("T", call.result())

    def _check_open(self) -> None:
        if self._closed:
            raise ServiceClosedError("the sync face is closed: use it inside its `with` block")

    def _submit(self, call: _Call) -> bool:
        """Queue ``call``; True if the poller was asleep, so it will take a while."""
        self._queue.append(call)
        if self._closed:  # closed meanwhile: the loop may have drained the queue already
            self._fail_queued()
        elif self._idle:
            self._on_loop(self._wake_poller)
            return True
        return False

    def _await(self, call: _Call, outcome: _Outcome, *, patient: bool = False) -> None:
        """Block until ``outcome`` is done, running the requests it brings meanwhile."""
        while True:
            self._wait(call, outcome.lock, patient=patient)
            outcome.signalled = False  # re-armed: the loop's next signal releases it
            requests = outcome.requests
            if requests:
                self._serve(call, requests)
            if outcome.done:
                return
            patient = False

    def _serve(self, call: _Call, requests: deque[_Request]) -> None:
        """Run the plain functions the loop asked this (waiting) thread to run."""
        while requests:
            request = requests.popleft()
            if request.abandoned:
                continue
            try:
                request.value = request.func(*request.args, **request.kwargs)
            except Exception as exc:  # noqa: BLE001 -- handed to the loop, which re-raises it
                request.error = exc
            except BaseException:
                # Interrupted (e.g. Ctrl-C) in the user's function: as when interrupted
                # while waiting, cancel our call and raise here.
                request.error = RuntimeError("the calling thread was interrupted")
                self._on_loop(request.done.set)
                call.cancelled = True
                self._on_loop(_cancel, call)
                raise
            self._on_loop(request.done.set)

    def _wait(self, call: _Call, lock: threading.Lock, *, patient: bool = False) -> None:
        """Block until the loop releases ``lock``; if interrupted, cancel ``call``.

        ``patient``: the poller is waking up, so its stillness means less for a while.
        """
        try:
            if self._spin_token.acquire(blocking=False):
                try:
                    stall = 2 * _CALLER_STALL if patient else _CALLER_STALL
                    start = moved = _clock()
                    beat = self._beat
                    _long_pause()  # about the time the loop takes to see and run a call
                    while not lock.acquire(blocking=False):
                        now = _clock()
                        if beat != self._beat:
                            beat, moved = self._beat, now
                        elif now - moved > stall or now - start > _CALLER_SPIN:
                            break
                        if now - start > _CALLER_YIELD_AFTER:
                            _yield_cpu()
                        _short_pause()
                    else:
                        return
                finally:
                    self._spin_token.release()
            lock.acquire()
        except BaseException:
            # Interrupted (e.g. Ctrl-C) while waiting: cancel our call, keep the portal.
            call.cancelled = True
            self._on_loop(_cancel, call)
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
            raise ServiceClosedError("the portal has stopped")
        self._threadsafe(callback, *args)

    # -- adapters for the sync faces ------------------------------------------------

    def wrap_cm(
        self,
        cm: AbstractAsyncContextManager[T],
        wrap: Callable[[Portal, T], Any] | None = None,
    ) -> AbstractContextManager[Any, bool]:
        """Turn an async context manager into a ``with`` block run by one loop task."""
        return _SyncContextManager(self, cm, wrap)

    def wrap_iter(
        self, iterator: AsyncIterator[T], wrap: Callable[[Portal, T], Any] | None = None
    ) -> Iterator[Any]:
        """Turn an async iterator into an iterator; leaving the loop early closes it."""
        return _iterate(self, iterator, wrap)


def _not_started(*_: object) -> None:
    raise RuntimeError("the portal's loop has not started")


def _start(call: _Call) -> Generator[Any, Any, Any]:
    _waiter.set(call)
    return call.func(*call.args, **call.kwargs).__await__()


@types.coroutine
def _drive(portal: Portal, call: _Call) -> Generator[Any, Any, Any]:
    """``await func(*args, **kwargs)`` in a copy of the context, noticing its first suspension.

    This is ``yield from`` (PEP 380) spelled out, so that the worker can hand the polling
    over before the call suspends, and each step runs in the call's own context.
    """
    run = contextvars.copy_context().run
    steps = run(_start, call)
    try:
        yielded = run(steps.send, None)
    except StopIteration as done:
        return done.value
    portal._on_suspend(call)  # noqa: SLF001
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as exc:  # noqa: BLE001 -- thrown in by the loop: passed on to the call
            try:
                yielded = run(steps.throw, exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                yielded = run(steps.send, sent)
            except StopIteration as done:
                return done.value


def _cancel(call: _Call) -> None:  # runs on the loop thread
    """Cancel a running call by cancelling its worker, which ends with the call.

    Loop callbacks run between task steps, so a call that is running and unfinished is
    suspended, and its worker serves nothing else. One not started yet is skipped by
    the poller (``call.cancelled``).
    """
    if call.worker is not None and not call.finished:
        call.worker.cancel()


async def _unwaited(func: Callable[[], Awaitable[object]]) -> None:
    """``await func()`` for no waiting thread (plain functions it asks for run in workers)."""
    _waiter.set(_NO_WAITER)
    await func()


def _iterate(
    portal: Portal, iterator: AsyncIterator[T], wrap: Callable[[Portal, T], Any] | None
) -> Iterator[Any]:
    try:
        while True:
            try:
                item = portal.call(iterator.__anext__)
            except StopAsyncIteration:
                return
            yield item if wrap is None else wrap(portal, item)
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None and not portal._closed:  # noqa: SLF001
            if threading.get_ident() == portal._loop_thread_id:  # noqa: SLF001
                # Garbage-collected on the loop thread, which must not block on itself.
                portal._submit(_Call(_unwaited, (aclose,), {}))  # noqa: SLF001
            else:
                portal.call(aclose)


class _SyncContextManager(AbstractContextManager[Any, bool]):
    """Hosts ``async with cm`` in one loop task between ``__enter__`` and ``__exit__``.

    Cancel scopes and task groups must be exited by the task that entered them, so the
    enter and exit of the async context manager both happen in the same host task.
    """

    def __init__(
        self,
        portal: Portal,
        cm: AbstractAsyncContextManager[Any],
        wrap: Callable[[Portal, Any], Any] | None,
    ) -> None:
        self._portal = portal
        self._cm = cm
        self._wrap = wrap
        self._exit_info: tuple[Any, Any, Any] = (None, None, None)
        self._exit_requested: anyio.Event | None = None
        self._host: _Call | None = None

    def __enter__(self) -> Any:
        if self._host is not None:
            raise RuntimeError("this context manager is already entered")
        entered = _Outcome()
        self._host = host = _Call(self._run_host, (entered,), {}, background=True)
        portal = self._portal
        portal._check_open()  # noqa: SLF001
        patient = portal._submit(host)  # noqa: SLF001
        portal._await(host, entered, patient=patient)  # noqa: SLF001
        value = entered.result()
        return value if self._wrap is None else self._wrap(portal, value)

    async def _run_host(self, entered: _Outcome) -> bool | None:
        self._exit_requested = exit_requested = anyio.Event()
        host = _waiter.get()  # this call's own outcome: __exit__ waits on it
        _waiter.set(entered)  # __enter__ waits, and runs what __aenter__ asks it to
        try:
            entered.value = await self._cm.__aenter__()
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # noqa: BLE001 -- the enter failed: __enter__ re-raises it
            entered.error = exc
            return None
        finally:
            entered.finish()
        try:
            await exit_requested.wait()
        except anyio.get_cancelled_exc_class() as exc:  # the portal stops, or our caller left
            with anyio.CancelScope(shield=True):
                await self._cm.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        _waiter.set(host)
        return await self._cm.__aexit__(*self._exit_info)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        host, event = self._host, self._exit_requested
        if host is None or event is None:
            raise RuntimeError("__exit__ without __enter__")
        self._host = None
        self._exit_info = (exc_type, exc, tb)
        try:
            self._portal.schedule(event.set)
            self._portal._await(host, host)  # noqa: SLF001
        finally:
            self._exit_info = (None, None, None)
        try:
            suppress = host.result()
        except BaseException as raised:
            if raised is exc:
                return False  # the cm let the original exception through
            raise
        return bool(suppress)


def _claim_thread_for(backend: Backend) -> None:
    """Tell sniffio this thread runs ``backend``, also inside plain loop callbacks."""
    try:
        import sniffio  # noqa: PLC0415 -- optional for anyio on asyncio
    except ImportError:  # pragma: no cover - anyio then assumes asyncio, which is right
        return
    sniffio.thread_local.name = backend


# -- the shared registry ---------------------------------------------------------

_lock = threading.Lock()
_portals: dict[str, tuple[Portal, int]] = {}


def acquire_portal(backend: Backend) -> Portal:
    """Return the shared portal for ``backend``, starting it for its first user."""
    with _lock:
        portal, users = _portals.get(backend, (None, 0))
        if portal is None:
            portal = Portal(backend)
            portal.start()
        _portals[backend] = (portal, users + 1)
        return portal


def release_portal(portal: Portal) -> None:
    """Drop one user of ``portal``; the last one out stops it."""
    with _lock:
        current, users = _portals.get(portal.backend, (None, 0))
        if current is not portal:
            return
        if users > 1:
            _portals[portal.backend] = (portal, users - 1)
            return
        del _portals[portal.backend]
    portal.stop()
