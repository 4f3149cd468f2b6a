"""The sync faces' adapters: ``with`` blocks hosted by one loop task, plain iterators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ._call import NO_WAITER, Call, Outcome, waiter_var

if TYPE_CHECKING:
    from ._portal import Portal

__all__ = ("SyncContextManager", "iterate")

T = TypeVar("T")


async def _unwaited(func: Callable[[], Awaitable[object]]) -> None:
    """``await func()`` for no waiting thread (plain functions it asks for run in workers)."""
    waiter_var.set(NO_WAITER)
    await func()


def iterate(
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
            if portal.in_event_loop():
                # Garbage-collected on a loop thread, which must not block (on itself).
                portal._submit(Call(_unwaited, (aclose,), {}))  # noqa: SLF001
            else:
                portal.call(aclose)


class SyncContextManager(AbstractContextManager[Any, bool]):
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
        self._host: Call | None = None

    def __enter__(self) -> Any:
        if self._host is not None:
            raise RuntimeError("this context manager is already entered")
        portal = self._portal
        portal._check_caller()  # noqa: SLF001
        portal._check_open()  # noqa: SLF001
        entered = Outcome()
        self._host = host = Call(self._run_host, (entered,), {}, background=True)
        portal._submit(host)  # noqa: SLF001
        portal._await(host, entered)  # noqa: SLF001
        value = entered.result()
        return value if self._wrap is None else self._wrap(portal, value)

    async def _run_host(self, entered: Outcome) -> bool | None:
        self._exit_requested = exit_requested = anyio.Event()
        host = waiter_var.get()  # this call's own outcome: __exit__ waits on it
        waiter_var.set(entered)  # __enter__ waits, and runs what __aenter__ asks it to
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
        waiter_var.set(host)
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
        if self._portal.forked:
            return False  # the cm is the parent process's: nothing to release here
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
