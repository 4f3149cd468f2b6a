"""``call_user``: call a user's callable the way the calling face expects.

Single-flight, the cache, transactions and the demo are written once, on the async
API, and driven by every face; the one thing that differs per face is how the user's
callable runs:

* an async callable (or anything returning an awaitable) is awaited on the loop;
* a plain function runs inline on the async faces (asyncio, trio), and on the sync
  face IN THE CALLING THREAD: the thread blocked in ``portal.call`` (or in a ``with``
  block's enter or exit) runs it, so its thread-locals (a Django database connection,
  say) are the caller's own, while the coroutine waits for it without blocking the loop.

Cancelling the wait cannot interrupt a plain function that already runs: the calling
thread finishes it and the result is dropped; one that has not started never runs.
A task that outlives the sync-face call it was started in has no waiting thread left:
plain functions it calls run in a worker thread.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast, overload

from ._portal import current_waiter, run_in_caller

__all__ = ("call_user",)

T = TypeVar("T")


@overload
async def call_user(func: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T: ...


@overload
async def call_user(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...


async def call_user(func: Callable[..., T | Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
    """``func(*args, **kwargs)``, awaited if it returns an awaitable (see the module doc)."""
    waiter = None if inspect.iscoroutinefunction(func) else current_waiter()
    if waiter is None:
        result = func(*args, **kwargs)
    else:
        result = await run_in_caller(waiter, func, *args, **kwargs)
    if inspect.isawaitable(result):
        return await cast("Awaitable[T]", result)
    return result
