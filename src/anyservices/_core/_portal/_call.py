"""What crosses between a calling thread and the portal's loop.

A :class:`Call` is queued by a calling thread and run on the loop; its outcome (value
or error) is left for the thread blocked on the outcome's lock. While it waits, that
thread also runs the plain functions the loop asks for (``Request``, see
``call_user``): the outcome is also a mailbox.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import types
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, cast

import anyio
import anyio.to_thread

from .._errors import ServiceClosedError
from .._threads import inline

if TYPE_CHECKING:
    from ._portal import Portal

__all__ = (
    "NO_WAITER",
    "Call",
    "Cancellable",
    "Outcome",
    "Request",
    "WorkerBody",
    "cancel_call",
    "current_waiter",
    "drive",
    "run_in_caller",
    "run_inline",
    "waiter_var",
)

T = TypeVar("T")

EMPTY: Final = object()


class Cancellable(Protocol):
    def cancel(self) -> object: ...

    @property
    def cancel_called(self) -> bool: ...


WorkerBody = Callable[[Cancellable], Awaitable[None]]
"""What a worker task runs, given the cancel scope that cancels its task."""


class Outcome:
    """Where the loop leaves a value or an error for the thread waiting on ``lock``.

    The waiting thread also runs the plain functions that the loop posts as requests
    (see ``call_user``). ``lock`` is a signal: released once per wake-up (``signalled``
    keeps the loop from releasing it twice), re-armed by the thread that acquires it.
    """

    __slots__ = ("done", "error", "lock", "requests", "signalled", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.value: Any = EMPTY
        self.error: BaseException | None = None
        self.done = False
        self.signalled = False
        self.requests: deque[Request] | None = None

    def _signal(self) -> None:
        if not self.signalled:
            self.signalled = True
            self.lock.release()

    def finish(self, error: BaseException | None = None) -> None:
        """Release the waiter; ``error`` is what it gets if no outcome was set."""
        if self.value is EMPTY and self.error is None:
            self.error = error or ServiceClosedError("the portal stopped during the call")
        self.done = True
        self._signal()

    def post(self, request: Request) -> None:  # runs on the loop thread
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


class Request:
    """A plain function the loop asks a waiting caller thread to run (``call_user``).

    It runs in a copy of the requesting task's context, as it would inline on an async
    face: it sees the context variables the call set (a tracing span, say).
    """

    __slots__ = ("abandoned", "args", "context", "done", "error", "func", "kwargs", "value")

    def __init__(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.context = contextvars.copy_context()
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = anyio.Event()
        self.abandoned = False  # the loop side stopped waiting: the result is dropped


NO_WAITER: Final = Outcome()
NO_WAITER.done = True
waiter_var: contextvars.ContextVar[Outcome | None] = contextvars.ContextVar(
    "anyservices_portal_waiter", default=None
)
"""In a call's context: the outcome its blocked caller thread waits on."""


def current_waiter() -> Outcome | None:
    """The outcome a sync-face thread waits on for the current call; None on async faces."""
    return waiter_var.get()


async def run_in_caller(waiter: Outcome, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run the plain ``func`` in the thread blocked on ``waiter``, and wait (not blocking).

    A task that outlived its call (or a call nobody waits for) has no thread to ask:
    ``func`` then runs in a worker thread.
    """
    if waiter.done:
        return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))
    request = Request(func, args, kwargs)
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


class Call(Outcome):
    """One ``await func(*args, **kwargs)``, queued for the poller, run by a worker task.

    It runs in a copy of the context of the thread that creates it (the caller's), so
    the call sees the caller's context variables (a tracing span, say) and what it sets
    stays in the call.
    """

    __slots__ = (
        "args",
        "background",
        "cancelled",
        "context",
        "func",
        "kwargs",
        "polled",
        "steps",
        "suspended",
        "worker",
        "yielded",
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
        self.context = contextvars.copy_context()
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.background = background  # lives long (a `with` block): not "in flight"
        self.cancelled = False  # its caller gave up waiting
        self.polled = False  # run by the poller, which hands the polling over if it suspends
        self.suspended = False
        self.worker: Cancellable | None = None  # cancels the worker task running it
        self.steps: Generator[Any, Any, Any] | None = None  # the started call's steps
        self.yielded: Any = None  # what its first step yielded to the loop

    def finish(self, error: BaseException | None = None) -> None:
        if self.cancelled and error is None:
            error = RuntimeError("the call was cancelled by its caller")
        super().finish(error)

    def first_step(self) -> bool:
        """Start the call and run it up to its first suspension; whether it finished.

        A finished call has its value (what it raises propagates); a suspended one
        keeps its steps and what it yielded for :func:`drive`. No task or generator is
        made for the many calls that finish at once: the poller runs them inline.
        """
        run = self.context.run
        self.steps = steps = run(_start, self)
        try:
            self.yielded = run(steps.send, None)
        except StopIteration as done:
            self.value = done.value
            return True
        return False


def run_inline(
    func: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    """``await func(*args, **kwargs)`` stepped in this thread, in a copy of its context
    with ``inline`` set (``_threads.inline_on_sync_face``): it must finish without
    suspending."""
    context = contextvars.copy_context()
    context.run(inline.set, True)  # noqa: FBT003 -- ContextVar.set takes the value positionally
    steps = context.run(lambda: func(*args, **kwargs).__await__())
    try:
        context.run(steps.send, None)
    except StopIteration as done:
        return cast("T", done.value)
    steps.close()
    name = getattr(func, "__qualname__", repr(func))
    raise RuntimeError(f"{name} is marked inline_on_sync_face but suspended")


def _start(call: Call) -> Generator[Any, Any, Any]:
    waiter_var.set(call)
    return call.func(*call.args, **call.kwargs).__await__()


@types.coroutine
def drive(portal: Portal, call: Call) -> Generator[Any, Any, Any]:
    """``await func(*args, **kwargs)`` in the call's context, noticing its first suspension.

    This is ``yield from`` (PEP 380) spelled out, so that the worker can hand the polling
    over before the call suspends, and each step runs in the call's own context (a copy
    of its caller's, see :class:`Call`), not in the worker task's. A call the poller
    started (:meth:`Call.first_step`) goes on from where it suspended.
    """
    if call.steps is None and call.first_step():
        return call.value
    run, steps, yielded = (
        call.context.run,
        cast("Generator[Any, Any, Any]", call.steps),
        call.yielded,
    )
    call.yielded = None
    portal._on_suspend(call)  # noqa: SLF001
    while True:
        try:
            sent = yield yielded
        except BaseException as exc:  # noqa: BLE001 -- thrown in by the loop (GeneratorExit too): passed on
            try:
                yielded = run(steps.throw, exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                yielded = run(steps.send, sent)
            except StopIteration as done:
                return done.value


def cancel_call(call: Call) -> None:  # runs on the loop thread
    """Cancel a running call by cancelling its worker, which ends with the call.

    Loop callbacks run between task steps, so a call that is running and unfinished is
    suspended, and its worker serves nothing else. One not started yet is skipped by
    the poller (``call.cancelled``).
    """
    if call.worker is not None and not call.done:
        call.worker.cancel()
