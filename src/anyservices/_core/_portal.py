"""One event-loop thread per backend, shared by every sync face.

``Portal.call`` runs a coroutine function on the portal's loop and blocks the calling
thread until it finishes. It is leaner than ``anyio.from_thread.BlockingPortal``: the
caller parks on a bare lock, the loop is woken with the backend's own thread-safe
callback, and each call is one task in the portal's task group.

Calls are independent: an exception (even ``KeyboardInterrupt``) in one call is
re-raised in its caller only; a caller interrupted while waiting cancels its call and
leaves the portal running for everybody else.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, ParamSpec, TypeVar, cast

import anyio

from ._errors import ServiceClosedError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

__all__ = ("Backend", "Portal", "acquire_portal", "release_portal")

Backend = Literal["asyncio", "trio"]
T = TypeVar("T")
P = ParamSpec("P")

_EMPTY: Final = object()


class _Waiter:
    """Where a loop task leaves its outcome for the thread that waits on it."""

    __slots__ = ("cancelled", "error", "lock", "scope", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.value: Any = _EMPTY
        self.error: BaseException | None = None
        self.scope: anyio.CancelScope | None = None
        self.cancelled = False

    def cancel(self) -> None:  # runs on the loop thread
        self.cancelled = True
        if self.scope is not None:
            self.scope.cancel()

    def result(self) -> Any:
        if self.error is not None:
            error, self.error = self.error, None  # break the traceback's reference cycle
            raise error
        return self.value


class Portal:
    """An event loop on a daemon thread that runs coroutines for blocking callers."""

    def __init__(self, backend: Backend) -> None:
        self.backend: Final = backend
        self._schedule: Callable[..., object] | None = None
        self._task_group: TaskGroup | None = None
        self._stop: Callable[[], object] | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread_id: int | None = None

    def __repr__(self) -> str:
        state = "running" if self._schedule is not None else "stopped"
        return f"<Portal {self.backend} {state}>"

    # -- lifecycle (called under the registry lock) --------------------------------

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            try:
                anyio.run(self._main, ready, backend=self.backend)
            except BaseException as exc:  # noqa: BLE001 -- reported to start(), which re-raises it
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=main, name=f"anyservices-portal-{self.backend}")
        self._thread.daemon = True  # a program that never leaves its `with` can still exit
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        stop, thread = self._stop, self._thread
        self._schedule = self._stop = self._thread = None
        if stop is not None and thread is not None:
            stop()
            if threading.get_ident() != self._loop_thread_id:
                thread.join()

    async def _main(self, ready: threading.Event) -> None:
        _claim_thread_for(self.backend)
        stopped = anyio.Event()
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            schedule = _thread_safe_scheduler(self.backend)
            self._loop_thread_id = threading.get_ident()
            self._stop = lambda: schedule(stopped.set)
            self._schedule = schedule
            ready.set()
            await stopped.wait()
            tg.cancel_scope.cancel()

    # -- calls -------------------------------------------------------------------

    def call(self, func: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``await func(*args, **kwargs)`` on the loop and return its result."""
        schedule = self._schedule
        if schedule is None:
            raise ServiceClosedError("the sync face is closed: use it inside its `with` block")
        if threading.get_ident() == self._loop_thread_id:
            raise RuntimeError("a sync face was called from inside its own portal's event loop")
        waiter = _Waiter()
        schedule(self._spawn, func, args, kwargs, waiter)
        try:
            waiter.lock.acquire()
        except BaseException:
            # Interrupted (e.g. Ctrl-C) while waiting: cancel our call, keep the portal.
            schedule(waiter.cancel)
            raise
        return cast("T", waiter.result())

    def _spawn(
        self,
        func: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        waiter: _Waiter,
    ) -> None:
        assert self._task_group is not None  # noqa: S101 -- set before _schedule exists
        self._task_group.start_soon(self._run, func, args, kwargs, waiter)

    async def _run(
        self,
        func: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        waiter: _Waiter,
    ) -> None:
        try:
            with anyio.CancelScope() as scope:
                waiter.scope = scope
                if waiter.cancelled:
                    scope.cancel()
                try:
                    waiter.value = await func(*args, **kwargs)
                except anyio.get_cancelled_exc_class():
                    raise
                except BaseException as exc:  # noqa: BLE001 -- handed to the waiting thread, which re-raises it
                    waiter.error = exc
            if scope.cancelled_caught and waiter.error is None and waiter.value is _EMPTY:
                # Only its interrupted caller cancels a call, and it is not waiting.
                waiter.error = RuntimeError("the call was cancelled by its caller")
        finally:
            if waiter.error is None and waiter.value is _EMPTY:
                waiter.error = ServiceClosedError("the portal stopped while the call ran")
            waiter.lock.release()

    def schedule(self, callback: Callable[..., object], *args: object) -> None:
        """Run the plain ``callback(*args)`` on the loop thread soon (no waiting)."""
        schedule = self._schedule
        if schedule is None:
            raise ServiceClosedError("the portal has stopped")
        schedule(callback, *args)

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
        if aclose is not None and portal._schedule is not None:  # noqa: SLF001
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
        self._done: _Waiter | None = None

    def __enter__(self) -> Any:
        entered = _Waiter()
        self._done = _Waiter()
        portal = self._portal
        if portal._schedule is None:  # noqa: SLF001
            raise ServiceClosedError("the sync face is closed: use it inside its `with` block")
        portal._schedule(portal._spawn, self._host, (entered,), {}, self._done)  # noqa: SLF001
        try:
            entered.lock.acquire()
        except BaseException:
            portal._schedule(self._done.cancel)  # noqa: SLF001
            raise
        value = entered.result()
        return value if self._wrap is None else self._wrap(portal, value)

    async def _host(self, entered: _Waiter) -> bool | None:
        self._exit_requested = exit_requested = anyio.Event()
        try:
            entered.value = await self._cm.__aenter__()
        except BaseException as exc:  # noqa: BLE001 -- the enter failed: __enter__ re-raises it
            entered.error = exc
            return None
        finally:
            entered.lock.release()
        try:
            await exit_requested.wait()
        except BaseException as exc:  # the portal is stopping: let the cm see why
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
        done, event = self._done, self._exit_requested
        if done is None or event is None:
            raise RuntimeError("__exit__ without __enter__")
        self._exit_info = (exc_type, exc, tb)
        self._portal.schedule(event.set)
        done.lock.acquire()
        self._exit_info = (None, None, None)
        try:
            suppress = done.result()
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


def _thread_safe_scheduler(backend: Backend) -> Callable[..., object]:
    """The backend's own "run this callback on the loop soon" that any thread may call."""
    if backend == "trio":
        import trio  # noqa: PLC0415 -- trio is optional

        return trio.lowlevel.current_trio_token().run_sync_soon
    import asyncio  # noqa: PLC0415

    return asyncio.get_running_loop().call_soon_threadsafe


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
