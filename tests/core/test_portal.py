"""The shared portal: plain sync tests, one per backend (no network)."""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anyservices._core._errors import ServiceClosedError
from anyservices._core._portal import Backend, Portal, acquire_portal, release_portal

BACKENDS: list[Backend] = ["asyncio", "trio"]


@pytest.fixture(params=BACKENDS)
def portal(request: pytest.FixtureRequest) -> Iterator[Portal]:
    portal = acquire_portal(request.param)
    yield portal
    release_portal(portal)


async def add(a: int, b: int = 0) -> int:
    await anyio.lowlevel.checkpoint()
    return a + b


async def add_now(a: int, b: int = 0) -> int:
    """Finishes without suspending: the poller runs it inline."""
    return a + b


def run_threads(count: int, target: Callable[[int], object]) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture
def sigint_after() -> Iterator[Callable[[float], None]]:
    """Send this process a real SIGINT, as Ctrl-C does, after a delay."""
    timers: list[threading.Timer] = []

    def arm(delay: float) -> None:
        timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
        timers.append(timer)
        timer.start()

    yield arm
    for timer in timers:
        timer.cancel()


# -- results and errors ---------------------------------------------------------------


@pytest.mark.parametrize("func", [add, add_now])
def test_result_and_kwargs(portal: Portal, func: Callable[..., Any]) -> None:
    assert portal.call(func, 1, b=2) == 3


@pytest.mark.parametrize("suspend", [False, True], ids=["inline", "suspended"])
@pytest.mark.parametrize(
    "error", [KeyError("mine"), KeyboardInterrupt(), SystemExit(3), GeneratorExit()]
)
def test_errors_go_to_their_caller_only(
    portal: Portal, error: BaseException, suspend: bool
) -> None:
    async def fail() -> None:
        if suspend:
            await anyio.sleep(0.001)
        raise error

    with pytest.raises(type(error)) as raised:
        portal.call(fail)
    assert raised.value is error
    assert portal.call(add, 2) == 2
    assert portal.call(add_now, 3) == 3


@pytest.mark.parametrize("suspend", [False, True], ids=["inline", "suspended"])
def test_a_call_cancelling_itself_keeps_the_portal(suspend: bool) -> None:
    # Only asyncio lets a coroutine raise its own cancellation.
    portal = acquire_portal("asyncio")
    try:

        async def cancel_myself() -> None:
            if suspend:
                await asyncio.sleep(0.001)
            raise asyncio.CancelledError

        with pytest.raises(RuntimeError, match="cancelled on the portal's loop"):
            portal.call(cancel_myself)
        assert portal.call(add, 1) == 1
        assert portal.call(add_now, 2) == 2
    finally:
        release_portal(portal)


def test_each_thread_gets_its_own_error(portal: Portal) -> None:
    async def fail_for(i: int) -> int:
        await anyio.sleep(0.001 * (i % 3))
        if i % 2:
            raise ValueError(i)
        return i

    outcomes: dict[int, object] = {}

    def worker(i: int) -> None:
        try:
            outcomes[i] = portal.call(fail_for, i)
        except ValueError as exc:
            outcomes[i] = exc.args[0]

    run_threads(16, worker)
    assert outcomes == {i: i for i in range(16)}


def test_calls_do_not_share_context(portal: Portal) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def set_var(suspend: bool) -> None:
        var.set("set")
        if suspend:
            await anyio.sleep(0.001)

    async def get_var() -> str:
        return var.get()

    portal.call(set_var, suspend=False)
    assert portal.call(get_var) == "unset"
    portal.call(set_var, suspend=True)
    assert portal.call(get_var) == "unset"
    assert portal.call(get_var) == "unset"


# -- interrupted callers ---------------------------------------------------------------


def test_interrupted_caller_cancels_its_call(
    portal: Portal, sigint_after: Callable[[float], None]
) -> None:
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            with anyio.fail_after(30):  # a cancel scope of its own must not absorb ours
                await anyio.sleep(20)
        finally:
            cancelled.set()

    sigint_after(0.2)
    with pytest.raises(KeyboardInterrupt):
        portal.call(slow)
    assert cancelled.wait(5)
    assert portal.call(add, 7) == 7
    assert portal.call(add_now, 8) == 8


def test_interrupted_caller_leaves_other_calls_alone(
    portal: Portal, sigint_after: Callable[[float], None]
) -> None:
    release: list[anyio.Event] = []

    async def make_event() -> None:
        release.append(anyio.Event())

    portal.call(make_event)

    async def gated() -> str:
        await release[0].wait()
        return "done"

    async def slow() -> None:
        await anyio.sleep(30)

    async def open_gate() -> None:
        release[0].set()

    results: list[str] = []
    other = threading.Thread(target=lambda: results.append(portal.call(gated)))
    other.start()
    sigint_after(0.2)
    with pytest.raises(KeyboardInterrupt):
        portal.call(slow)
    portal.call(open_gate)
    other.join(5)
    assert results == ["done"]


# -- concurrency ------------------------------------------------------------------------


def test_many_threads_overlap(portal: Portal) -> None:
    count = 16
    arrived = 0
    event: list[anyio.Event] = []

    async def make_event() -> None:
        event.append(anyio.Event())

    portal.call(make_event)

    async def meet(i: int) -> int:
        nonlocal arrived
        arrived += 1
        if arrived == count:
            event[0].set()
        with anyio.fail_after(10):  # fails unless all 16 calls are in flight together
            await event[0].wait()
        return i

    results: dict[int, int] = {}

    def worker(i: int) -> None:
        results[i] = portal.call(meet, i)

    run_threads(count, worker)
    assert results == {i: i for i in range(count)}


@pytest.mark.parametrize("func", [add, add_now])
def test_thirty_two_threads_get_their_own_results(
    portal: Portal, func: Callable[[int, int], Any]
) -> None:
    errors: list[str] = []

    def worker(i: int) -> None:
        errors.extend(f"{i}+{j}" for j in range(50) if portal.call(func, i, j) != i + j)

    run_threads(32, worker)
    assert not errors


def test_a_suspended_call_does_not_hold_up_others(portal: Portal) -> None:
    gate: list[anyio.Event] = []

    async def make_event() -> None:
        gate.append(anyio.Event())

    async def wait_gate() -> str:
        await gate[0].wait()
        return "opened"

    async def open_gate() -> None:
        gate[0].set()

    portal.call(make_event)
    results: list[str] = []
    waiter = threading.Thread(target=lambda: results.append(portal.call(wait_gate)))
    waiter.start()
    assert [portal.call(add_now, i) for i in range(200)] == list(range(200))
    assert [portal.call(add, i) for i in range(50)] == list(range(50))
    assert results == []
    portal.call(open_gate)
    waiter.join(5)
    assert results == ["opened"]


def test_an_idle_portal_does_not_spin(portal: Portal) -> None:
    for i in range(2000):
        portal.call(add_now, i)
    time.sleep(0.05)  # the hot window after the last call is a fraction of a millisecond
    started = time.process_time()
    time.sleep(0.3)
    assert time.process_time() - started < 0.03


def test_a_long_call_does_not_spin(portal: Portal) -> None:
    started = time.process_time()
    portal.call(anyio.sleep, 0.3)  # both the caller and the loop must block, not poll
    assert time.process_time() - started < 0.03


# -- wrap_cm ------------------------------------------------------------------------------


class Scoped:
    """An async cm holding a cancel scope: it must be exited by the task that entered it."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    @asynccontextmanager
    async def open(self, suppress: bool = False) -> AsyncGenerator[str, None]:
        with anyio.CancelScope():
            try:
                yield "value"
            except ValueError as exc:
                self.seen.append(exc)
                if not suppress:
                    raise


def test_wrap_cm_enters_and_exits_in_one_task(portal: Portal) -> None:
    scoped = Scoped()
    with portal.wrap_cm(scoped.open()) as value:
        assert value == "value"
        assert portal.call(add, 1) == 1
    assert scoped.seen == []


def test_wrap_cm_hosts_a_task_group(portal: Portal) -> None:
    ticks: list[int] = []

    @asynccontextmanager
    async def with_worker() -> AsyncGenerator[str, None]:
        async def tick() -> None:
            while True:
                ticks.append(1)
                await anyio.sleep(0.001)

        async with anyio.create_task_group() as tg:
            tg.start_soon(tick)
            yield "running"
            tg.cancel_scope.cancel()

    with portal.wrap_cm(with_worker()) as value:
        assert value == "running"
        time.sleep(0.02)
        assert portal.call(add, 2) == 2
    seen = len(ticks)
    assert seen > 0
    time.sleep(0.02)
    assert len(ticks) == seen  # the child task ended with the block


def test_wrap_cm_body_exception_reaches_the_cm(portal: Portal) -> None:
    scoped = Scoped()
    error = ValueError("body")
    with pytest.raises(ValueError, match="body"), portal.wrap_cm(scoped.open()):
        raise error
    assert scoped.seen == [error]


def test_wrap_cm_can_suppress(portal: Portal) -> None:
    scoped = Scoped()
    with portal.wrap_cm(scoped.open(suppress=True)):
        raise ValueError("swallowed by the cm on purpose")
    assert len(scoped.seen) == 1


def test_wrap_cm_enter_error_propagates(portal: Portal) -> None:
    class Broken:
        async def __aenter__(self) -> None:
            await anyio.lowlevel.checkpoint()
            raise LookupError("enter failed")

        async def __aexit__(self, *exc_info: object) -> None:
            raise AssertionError("not entered, so not exited")  # pragma: no cover

    with pytest.raises(LookupError, match="enter failed"), portal.wrap_cm(Broken()):
        pass  # pragma: no cover
    assert portal.call(add, 1) == 1


def test_wrap_cm_exit_error_propagates(portal: Portal) -> None:
    @asynccontextmanager
    async def broken() -> AsyncGenerator[None, None]:
        yield
        raise LookupError("exit failed")

    with pytest.raises(LookupError, match="exit failed"), portal.wrap_cm(broken()):
        pass


def test_wrap_cm_wraps_the_value(portal: Portal) -> None:
    with portal.wrap_cm(Scoped().open(), lambda p, v: (p, v.upper())) as (owner, value):
        assert owner is portal
        assert value == "VALUE"


# -- wrap_iter ---------------------------------------------------------------------------


def test_wrap_iter_iterates_and_wraps(portal: Portal) -> None:
    async def numbers() -> AsyncIterator[int]:
        for i in range(5):
            await anyio.lowlevel.checkpoint()
            yield i

    assert list(portal.wrap_iter(numbers())) == [0, 1, 2, 3, 4]
    assert list(portal.wrap_iter(numbers(), lambda p, i: i * 10)) == [0, 10, 20, 30, 40]


def test_wrap_iter_closes_early(portal: Portal) -> None:
    closed = threading.Event()

    async def numbers() -> AsyncIterator[int]:
        try:
            for i in range(100):
                yield i
        finally:
            closed.set()

    iterator = portal.wrap_iter(numbers())
    for i in iterator:
        if i == 3:
            break
    assert not closed.is_set()
    del iterator
    assert closed.wait(5)
    assert list(portal.wrap_iter(numbers())) == list(range(100))


# -- lifecycle ----------------------------------------------------------------------------


def test_call_from_the_loop_thread_is_refused(portal: Portal) -> None:
    async def reenter() -> int:
        return portal.call(add, 1)

    with pytest.raises(RuntimeError, match="inside its own portal"):
        portal.call(reenter)


@pytest.mark.parametrize("backend", BACKENDS)
def test_refcount_start_stop_and_restart(backend: Backend) -> None:
    first = acquire_portal(backend)
    second = acquire_portal(backend)
    assert first is second
    release_portal(second)
    assert first.call(add, 1) == 1
    release_portal(first)
    with pytest.raises(ServiceClosedError):
        first.call(add, 1)
    with pytest.raises(ServiceClosedError):
        first.wrap_cm(Scoped().open()).__enter__()
    third = acquire_portal(backend)
    try:
        assert third is not first
        assert third.call(add, 2) == 2
    finally:
        release_portal(third)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stop_fails_the_calls_in_flight(backend: Backend) -> None:
    portal = acquire_portal(backend)
    started = threading.Event()
    outcome: list[BaseException] = []

    async def forever() -> None:
        started.set()
        await anyio.sleep_forever()

    def caller() -> None:
        try:
            portal.call(forever)
        except ServiceClosedError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    assert started.wait(5)
    release_portal(portal)
    thread.join(5)
    assert not thread.is_alive()
    assert len(outcome) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_acquire_release_from_many_threads_leaks_no_thread(backend: Backend) -> None:
    before = set(threading.enumerate())

    def worker(_: int) -> None:
        for _ in range(20):
            portal = acquire_portal(backend)
            assert portal.call(add, 1) == 1
            assert portal.call(add_now, 2) == 2
            release_portal(portal)

    run_threads(8, worker)
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(threading.enumerate()) - before == set()
