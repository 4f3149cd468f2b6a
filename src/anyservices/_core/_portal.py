"""One event-loop thread per backend, shared by every sync face.

``Portal.call`` runs a coroutine function on the portal's loop and blocks the calling
thread until it finishes. On a VM the dominant cost is waking a sleeping thread (tens of
µs each way, more than the whole call), so while calls are flowing neither side sleeps:

* the caller appends the call to a deque (no lock, no syscall). A poller task on the
  loop drains it every loop iteration while it is *hot*, i.e. until ``_LOOP_SPIN``
  seconds after the last call; then it blocks in the selector as usual, and the next
  caller wakes it with the backend's thread-safe callback;
* the caller polls its result lock, yielding the CPU and the GIL with ``sched_yield``,
  for up to ``_CALLER_SPIN`` seconds, then parks on the lock. Only one caller spins at
  a time: more spinners would only take the GIL away from the loop.

Both spins are bounded, so an idle portal costs no CPU. Each call is one
backend-native task (cheaper than anyio's ``TaskGroup.start_soon``), so concurrent
callers have concurrent calls in flight.

Calls are independent: an exception (even ``KeyboardInterrupt``) in one call is
re-raised in its caller only; a caller interrupted while waiting cancels its call and
leaves the portal running for everybody else.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, ParamSpec, TypeVar, cast

import anyio

from ._errors import ServiceClosedError

if TYPE_CHECKING:
    import asyncio

__all__ = ("Backend", "Portal", "acquire_portal", "release_portal")

Backend = Literal["asyncio", "trio"]
T = TypeVar("T")
P = ParamSpec("P")

_LOOP_SPIN: Final = 200e-6
"""How long the loop keeps polling for calls after the last one, in seconds."""
_CALLER_SPIN: Final = 200e-6
"""How long a caller polls for its result before parking on a lock, in seconds."""

_EMPTY: Final = object()
_clock: Final = time.perf_counter
# Lets the other thread take the GIL without sleeping: time.sleep(0) sleeps ~50 µs here.
_yield: Final[Callable[[], object]] = (
    functools.partial(time.sleep, 0) if sys.platform == "win32" else os.sched_yield
)


class _Outcome:
    """Where the loop leaves a value or an error for the thread waiting on ``lock``."""

    __slots__ = ("error", "lock", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.value: Any = _EMPTY
        self.error: BaseException | None = None

    def finish(self, error: BaseException | None = None) -> None:
        """Release the waiter; ``error`` is what it gets if no outcome was set."""
        if self.value is _EMPTY and self.error is None:
            self.error = error or ServiceClosedError("the portal stopped during the call")
        self.lock.release()

    def result(self) -> Any:
        if self.error is not None:
            error, self.error = self.error, None  # break the traceback's reference cycle
            raise error
        return self.value


class _Call(_Outcome):
    """One ``await func(*args, **kwargs)`` queued for, then run by, a loop task."""

    __slots__ = ("args", "cancelled", "func", "handle", "kwargs")

    def __init__(
        self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        super().__init__()
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.cancelled = False  # its caller gave up waiting
        self.handle: Any = None  # what cancels it: its asyncio task or trio cancel scope

    def finish(self, error: BaseException | None = None) -> None:
        if self.cancelled and error is None:
            error = RuntimeError("the call was cancelled by its caller")
        super().finish(error)


class Portal:
    """An event loop on a daemon thread that runs coroutines for blocking callers."""

    def __init__(self, backend: Backend) -> None:
        self.backend: Final = backend
        self._queue: deque[_Call] = deque()
        self._closed = True  # until start() and again from stop(): calls are refused
        self._idle = False  # the poller sleeps in the selector: a caller must wake it
        self._wakeup: anyio.Event | None = None
        self._threadsafe: Callable[..., object] | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread_id: int | None = None
        self._spin_token = threading.Lock()  # held by the one caller allowed to spin

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
        thread, threadsafe = self._thread, self._threadsafe
        self._thread = None
        self._closed = True
        if thread is None or threadsafe is None:
            return
        try:
            threadsafe(self._wake_poller)
        except RuntimeError:  # the loop has already finished
            pass
        if threading.get_ident() != self._loop_thread_id:
            thread.join()

    async def _main(self, ready: threading.Event) -> None:
        _claim_thread_for(self.backend)
        self._loop_thread_id = threading.get_ident()
        if self.backend == "trio":
            await self._serve_trio(ready)
        else:
            await self._serve_asyncio(ready)

    async def _serve_asyncio(self, ready: threading.Event) -> None:
        import asyncio  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()  # strong references: asyncio keeps weak ones

        def spawn(call: _Call) -> None:
            call.handle = task = loop.create_task(_run_asyncio(call))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        self._threadsafe = loop.call_soon_threadsafe
        self._closed = False
        ready.set()
        try:
            await self._poll(spawn, asyncio.sleep)
        finally:
            self._closed = True
            self._fail_queued()
            # A task cancelled before its first step never runs its `finally`; one
            # round lets every task spawned so far get that far.
            await asyncio.sleep(0)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(set(tasks))

    async def _serve_trio(self, ready: threading.Event) -> None:
        import trio  # noqa: PLC0415 -- trio is optional

        async with trio.open_nursery() as nursery:

            def spawn(call: _Call) -> None:
                nursery.start_soon(_run_trio, call)

            self._threadsafe = trio.lowlevel.current_trio_token().run_sync_soon
            self._closed = False
            ready.set()
            try:
                await self._poll(spawn, trio.sleep)
            finally:
                self._closed = True
                self._fail_queued()
                nursery.cancel_scope.cancel()

    async def _poll(
        self, spawn: Callable[[_Call], None], sleep: Callable[[float], Awaitable[object]]
    ) -> None:
        """Start queued calls; stay hot a while after each, then sleep until woken."""
        queue = self._queue
        hot_until = 0.0
        while not self._closed:
            if queue:
                while queue:
                    call = queue.popleft()
                    if call.cancelled:
                        call.finish()
                    else:
                        spawn(call)
                hot_until = _clock() + _LOOP_SPIN
                await sleep(0)
            elif _clock() < hot_until:
                await sleep(0)  # one loop iteration: other tasks and I/O run meanwhile
            else:
                self._wakeup = wakeup = anyio.Event()
                self._idle = True
                # Callers append first and look at _idle second, so a call appended
                # before _idle was set is seen here, and one appended after it wakes us.
                if not queue and not self._closed:
                    await wakeup.wait()
                self._idle = False
                self._wakeup = None

    def _wake_poller(self) -> None:  # runs on the loop thread
        if self._wakeup is not None:
            self._wakeup.set()

    def _fail_queued(self) -> None:
        """Fail the calls no loop task will ever start (the portal is closed)."""
        queue = self._queue
        while queue:
            try:
                call = queue.popleft()
            except IndexError:  # another thread emptied it meanwhile
                return
            call.finish(ServiceClosedError("the portal stopped before the call started"))

    # -- calls -------------------------------------------------------------------

    def call(self, func: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``await func(*args, **kwargs)`` on the loop and return its result."""
        if threading.get_ident() == self._loop_thread_id:
            raise RuntimeError("a sync face was called from inside its own portal's event loop")
        call = _Call(func, args, kwargs)
        self._submit(call)
        self._wait(call, call.lock)
        return cast("T", call.result())

    def _submit(self, call: _Call) -> None:
        if self._closed:
            raise ServiceClosedError("the sync face is closed: use it inside its `with` block")
        self._queue.append(call)
        if self._closed:  # closed meanwhile: the loop may have drained the queue already
            self._fail_queued()
        elif self._idle:
            self._on_loop(self._wake_poller)

    def _wait(self, call: _Call, lock: threading.Lock) -> None:
        """Block until the loop releases ``lock``; if interrupted, cancel ``call``."""
        try:
            if lock.acquire(blocking=False):
                return
            if self._spin_token.acquire(blocking=False):
                try:
                    deadline = _clock() + _CALLER_SPIN
                    while _clock() < deadline:
                        _yield()
                        if lock.acquire(blocking=False):
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
        threadsafe = self._threadsafe
        if threadsafe is None:
            return
        try:
            threadsafe(callback, *args)
        except RuntimeError:  # the loop has finished: it failed or cancelled every call
            if not self._closed:
                raise

    def schedule(self, callback: Callable[..., object], *args: object) -> None:
        """Run the plain ``callback(*args)`` on the loop thread soon (no waiting)."""
        if self._closed or self._threadsafe is None:
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


async def _run_asyncio(call: _Call) -> None:
    import asyncio  # noqa: PLC0415 -- already imported: the loop runs

    try:
        call.value = await call.func(*call.args, **call.kwargs)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # noqa: BLE001 -- handed to the waiting thread, which re-raises it
        call.error = exc
    finally:
        call.finish()


async def _run_trio(call: _Call) -> None:
    import trio  # noqa: PLC0415 -- already imported: the loop runs

    try:
        with trio.CancelScope() as scope:
            call.handle = scope
            if call.cancelled:
                scope.cancel()
            try:
                call.value = await call.func(*call.args, **call.kwargs)
            except trio.Cancelled:
                raise
            except BaseException as exc:  # noqa: BLE001 -- handed to the waiting thread
                call.error = exc
    finally:
        call.finish()


def _cancel(call: _Call) -> None:  # runs on the loop thread
    """Cancel a started call (one not started yet is skipped: ``call.cancelled``)."""
    if call.handle is not None:
        call.handle.cancel()


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
                portal._submit(_Call(aclose, (), {}))  # noqa: SLF001
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
        self._host = host = _Call(self._run_host, (entered,), {})
        portal = self._portal
        portal._submit(host)  # noqa: SLF001
        portal._wait(host, entered.lock)  # noqa: SLF001
        value = entered.result()
        return value if self._wrap is None else self._wrap(portal, value)

    async def _run_host(self, entered: _Outcome) -> bool | None:
        self._exit_requested = exit_requested = anyio.Event()
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
            self._portal._wait(host, host.lock)  # noqa: SLF001
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
