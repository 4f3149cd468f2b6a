"""The shared portal: plain sync tests, one per backend (no network)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from anyservices._core._errors import ServiceClosedError
from anyservices._core._portal import Backend, Portal, acquire_portal, release_portal

BACKENDS: list[Backend] = ["asyncio", "trio"]


@pytest.fixture(params=BACKENDS)
def portal(request: pytest.FixtureRequest) -> Any:
    portal = acquire_portal(request.param)
    yield portal
    release_portal(portal)


async def add(a: int, b: int = 0) -> int:
    await anyio.lowlevel.checkpoint()
    return a + b


def test_result_and_kwargs(portal: Portal) -> None:
    assert portal.call(add, 1, b=2) == 3


def test_exception_goes_to_its_caller_only(portal: Portal) -> None:
    async def fail() -> None:
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        portal.call(fail)
    assert portal.call(add, 2) == 2


def test_base_exception_in_a_call_keeps_the_portal(portal: Portal) -> None:
    async def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        portal.call(interrupt)
    assert portal.call(add, 5) == 5


def test_interrupted_caller_cancels_its_call(portal: Portal) -> None:
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await anyio.sleep(30)
        finally:
            cancelled.set()

    # A real SIGINT, as Ctrl-C sends: it wakes the main thread parked on its lock.
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            portal.call(slow)
    finally:
        timer.cancel()
    assert cancelled.wait(5)
    assert portal.call(add, 7) == 7


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

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: i for i in range(count)}


def test_thirty_two_threads_get_their_own_results(portal: Portal) -> None:
    errors: list[str] = []

    def worker(i: int) -> None:
        errors.extend(f"{i}+{j}" for j in range(50) if portal.call(add, i, j) != i + j)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


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
    assert scoped.seen == []


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
    del iterator
    assert closed.wait(5)
    assert list(portal.wrap_iter(numbers())) == list(range(100))


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
    third = acquire_portal(backend)
    try:
        assert third is not first
        assert third.call(add, 2) == 2
    finally:
        release_portal(third)


@pytest.mark.parametrize("backend", BACKENDS)
def test_acquire_release_from_many_threads_leaks_no_thread(backend: Backend) -> None:
    before = {t.name for t in threading.enumerate()}

    def worker() -> None:
        for _ in range(20):
            portal = acquire_portal(backend)
            assert portal.call(add, 1) == 1
            release_portal(portal)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not {t.name for t in threading.enumerate()} - before:
            break
        time.sleep(0.05)
    assert {t.name for t in threading.enumerate()} - before == set()
