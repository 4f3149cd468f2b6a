"""The portal's rarer paths, made to happen on purpose (no network)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

import anyio
import anyio.lowlevel
import pytest

from anyservices import blocking
from anyservices._core._errors import ServiceClosedError
from anyservices._core._portal import Backend, Portal, acquire_portal, release_portal
from anyservices._core._portal._call import Call
from tests.core._toy import ToyConfig, ToyService

BACKENDS: list[Backend] = ["asyncio", "trio"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.param
    return chosen


@pytest.fixture
def portal(backend: Backend) -> Iterator[Portal]:
    portal = acquire_portal(backend)
    yield portal
    release_portal(portal)


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


async def noop() -> None:
    await anyio.lowlevel.checkpoint()


async def hog_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # noqa: ASYNC251 -- blocks the portal's loop on purpose: calls queue up


# -- lifecycle ----------------------------------------------------------------------------


def test_a_backend_that_cannot_start_raises_from_start() -> None:
    portal = Portal("curio")  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        portal.start()
    assert repr(portal) == "<Portal curio stopped>"


def test_an_unstarted_portal_refuses_and_stops_quietly() -> None:
    portal = Portal("asyncio")
    portal.stop()  # never started: nothing to stop
    portal._on_loop(print)  # no loop: the callback is dropped, as after a stop
    with pytest.raises(ServiceClosedError):
        portal.schedule(print)
    call = Call(noop, (), {})
    portal._submit(call)  # closed meanwhile: the call fails at once
    with pytest.raises(ServiceClosedError, match="before the call started"):
        call.result()


def test_stop_from_the_loop_thread_does_not_join_itself(backend: Backend) -> None:
    portal = Portal(backend)
    portal.start()

    async def stop_from_inside() -> None:
        portal.stop()
        await anyio.sleep(5)  # cancelled: the loop ends

    with pytest.raises(ServiceClosedError):
        portal.call(stop_from_inside)


def test_stop_fails_the_calls_still_queued(backend: Backend) -> None:
    portal = Portal(backend)
    portal.start()
    hogging = threading.Thread(target=portal.call, args=(hog_the_loop, 0.3))
    hogging.start()
    time.sleep(0.05)
    outcome: list[BaseException] = []

    def queued() -> None:
        try:
            portal.call(noop)
        except ServiceClosedError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=queued)
    waiter.start()
    time.sleep(0.05)  # its call is queued behind the hog
    portal.stop()
    hogging.join(5)
    waiter.join(5)
    assert len(outcome) == 1
    assert "before the call started" in str(outcome[0])


def test_a_call_whose_caller_left_before_it_started_never_runs(
    portal: Portal, sigint_after: Callable[[float], None]
) -> None:
    ran: list[str] = []

    async def record() -> None:
        ran.append("ran")

    hogging = threading.Thread(target=portal.call, args=(hog_the_loop, 0.4))
    hogging.start()
    time.sleep(0.05)
    sigint_after(0.1)
    with pytest.raises(KeyboardInterrupt):
        portal.call(record)  # queued behind the hog, given up before it starts
    hogging.join(5)
    assert portal.call(noop) is None
    assert ran == []


def test_the_poller_does_not_sleep_while_a_call_is_queued(portal: Portal) -> None:
    async def check() -> bool:
        portal._queue.append(Call(noop, (), {}))  # as if a caller had just appended it
        await portal._sleep_until_called()  # returns at once: the call is there
        return True

    assert portal.call(check)


def test_a_cancelled_call_that_swallows_it_still_fails_its_caller(
    sigint_after: Callable[[float], None],
) -> None:
    portal = acquire_portal("asyncio")  # asyncio throws the cancellation into the call
    swallowed = threading.Event()
    try:

        async def stubborn() -> str:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                swallowed.set()
                return "ignored"
            return "slept"

        sigint_after(0.1)
        with pytest.raises(KeyboardInterrupt):
            portal.call(stubborn)
        assert swallowed.wait(5)
        assert portal.call(noop) is None
    finally:
        release_portal(portal)


def test_callers_wait_out_short_suspending_calls(portal: Portal) -> None:
    async def short() -> int:
        await anyio.sleep(0.001)
        return 1

    assert sum(portal.call(short) for _ in range(5)) == 5


# -- wrap_cm ------------------------------------------------------------------------------


def test_wrap_cm_refuses_a_second_enter_and_an_exit_without_enter(portal: Portal) -> None:
    @asynccontextmanager
    async def simple() -> AsyncGenerator[int, None]:
        yield 1

    cm = portal.wrap_cm(simple())
    with pytest.raises(RuntimeError, match="without __enter__"):
        cm.__exit__(None, None, None)
    with cm as value:
        assert value == 1
        with pytest.raises(RuntimeError, match="already entered"):
            cm.__enter__()


def test_wrap_cm_exit_raising_the_body_error_again_lets_it_through(portal: Portal) -> None:
    class Reraise:
        async def __aenter__(self) -> str:
            return "in"

        async def __aexit__(
            self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
        ) -> bool:
            await anyio.lowlevel.checkpoint()
            assert exc is not None
            raise exc

    error = ValueError("body")
    with pytest.raises(ValueError, match="body") as raised, portal.wrap_cm(Reraise()):
        raise error
    assert raised.value is error


def test_an_interrupted_enter_cancels_the_enter(
    portal: Portal, sigint_after: Callable[[float], None]
) -> None:
    cancelled = threading.Event()

    @asynccontextmanager
    async def slow_enter() -> AsyncGenerator[None, None]:
        try:
            await anyio.sleep(10)
        finally:
            cancelled.set()
        yield

    sigint_after(0.1)
    with pytest.raises(KeyboardInterrupt), portal.wrap_cm(slow_enter()):
        pass
    assert cancelled.wait(5)
    assert portal.call(noop) is None


def test_a_portal_stopping_inside_a_block_exits_the_cm(backend: Backend) -> None:
    exited: list[type[BaseException] | None] = []

    class Recorder:
        async def __aenter__(self) -> None:
            return None

        async def __aexit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            exited.append(exc_type)

    portal = Portal(backend)
    portal.start()
    cm = portal.wrap_cm(Recorder())
    cm.__enter__()
    portal.stop()  # cancels the host task: the cm is exited with the cancellation
    assert len(exited) == 1
    assert exited[0] is not None  # the backend's cancellation class
    assert exited[0].__name__ in {"CancelledError", "Cancelled"}
    with pytest.raises(ServiceClosedError):
        cm.__exit__(None, None, None)


# -- blocking() ---------------------------------------------------------------------------


def test_blocking_repr_reopen_and_close_twice() -> None:
    opener = blocking(ToyService(ToyConfig()))
    assert repr(opener).startswith("<Blocking <ToyService")
    face = opener.open()
    try:
        with pytest.raises(RuntimeError, match="already open"):
            opener.open()
    finally:
        face.close()
    opener.close()  # already closed: nothing to do


def test_blocking_accepts_any_face_object() -> None:
    class Plain:
        """Not a SyncFace: blocking() hands it out as it is."""

        def __init__(self, portal: Portal) -> None:
            self.portal = portal

    class Minimal:
        async def __aenter__(self) -> Self:
            return self

        async def __aexit__(self, *exc_info: object) -> None:
            return None

        def __blocking__(self, portal: Portal) -> Plain:
            return Plain(portal)

    with blocking(Minimal()) as face:
        assert isinstance(face, Plain)
        assert face.portal.backend == "asyncio"
