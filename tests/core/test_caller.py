"""``call_user``: a user's callable runs where the calling face expects it (no network)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Generator, Iterator
from contextlib import asynccontextmanager
from typing import cast

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from anyservices._core._caller import call_user
from anyservices._core._portal import Backend, Portal, acquire_portal, release_portal

BACKENDS: list[Backend] = ["asyncio", "trio"]


@pytest.fixture(params=BACKENDS)
def portal(request: pytest.FixtureRequest) -> Iterator[Portal]:
    portal = acquire_portal(request.param)
    yield portal
    release_portal(portal)


def whoami(tag: str = "") -> tuple[int, str]:
    return threading.get_ident(), tag


async def async_whoami(tag: str = "") -> tuple[int, str]:
    await anyio.lowlevel.checkpoint()
    return threading.get_ident(), tag


def returns_awaitable(tag: str) -> Awaitable[tuple[int, str]]:
    """A plain function handing back an awaitable: the awaitable is awaited on the loop."""
    return async_whoami(tag)


# -- async faces -------------------------------------------------------------------------


async def test_plain_runs_inline_on_the_async_faces() -> None:
    assert await call_user(whoami, tag="x") == (threading.get_ident(), "x")


async def test_async_is_awaited_on_the_async_faces() -> None:
    assert await call_user(async_whoami, "y") == (threading.get_ident(), "y")
    assert await call_user(returns_awaitable, "z") == (threading.get_ident(), "z")


async def test_errors_propagate_on_the_async_faces() -> None:
    def fail() -> None:
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        await call_user(fail)


# -- the sync face -----------------------------------------------------------------------


def test_plain_runs_in_the_calling_thread(portal: Portal) -> None:
    async def body() -> tuple[tuple[int, str], int]:
        return await call_user(whoami, "t"), threading.get_ident()

    (ran_in, tag), loop_thread = portal.call(body)
    assert ran_in == threading.get_ident() != loop_thread
    assert tag == "t"


def test_async_runs_on_the_loop(portal: Portal) -> None:
    async def body() -> tuple[int, int, int]:
        direct = (await call_user(async_whoami))[0]
        via_plain = (await call_user(returns_awaitable, ""))[0]
        return direct, via_plain, threading.get_ident()

    direct, via_plain, loop_thread = portal.call(body)
    assert direct == via_plain == loop_thread != threading.get_ident()


def test_partial_of_async_runs_on_the_loop(portal: Portal) -> None:
    async def body() -> tuple[int, int]:
        return (await call_user(functools.partial(async_whoami, "p")))[0], threading.get_ident()

    ran_in, loop_thread = portal.call(body)
    assert ran_in == loop_thread


def test_plain_errors_reach_the_coroutine(portal: Portal) -> None:
    def fail() -> None:
        raise LookupError("from the user")

    async def body() -> str:
        try:
            await call_user(fail)
        except LookupError as exc:
            return f"caught {exc.args[0]}"
        return "not raised"  # pragma: no cover

    assert portal.call(body) == "caught from the user"

    async def uncaught() -> None:
        await call_user(fail)

    with pytest.raises(LookupError, match="from the user"):
        portal.call(uncaught)


def test_a_call_can_ask_many_times_and_keep_its_result(portal: Portal) -> None:
    seen: list[int] = []

    async def body() -> int:
        for i in range(20):
            seen.append((await call_user(whoami))[0])
            if i % 2:
                await anyio.lowlevel.checkpoint()
        return len(seen)

    assert portal.call(body) == 20
    assert set(seen) == {threading.get_ident()}


def test_nested_sync_calls_inside_the_user_function(portal: Portal) -> None:
    async def inner(depth: int) -> list[int]:
        return await call_user(user_function, depth)

    def user_function(depth: int) -> list[int]:
        here = threading.get_ident()
        if depth == 0:
            return [here]
        return [here, *portal.call(inner, depth - 1)]

    assert portal.call(inner, 3) == [threading.get_ident()] * 4


def test_concurrent_tasks_of_one_call_share_the_thread(portal: Portal) -> None:
    async def body() -> list[int]:
        results: list[int] = []

        async def ask(i: int) -> None:
            await anyio.sleep(0.001 * (i % 3))
            results.append((await call_user(whoami))[0])

        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(ask, i)
        return results

    assert portal.call(body) == [threading.get_ident()] * 6


def test_eight_threads_each_run_their_own(portal: Portal) -> None:
    results: dict[int, list[tuple[int, str]]] = {}
    errors: list[BaseException] = []

    async def body(i: int) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        for j in range(25):
            out.append(await call_user(whoami, f"{i}-{j}"))
            if j % 5 == 0:
                await anyio.lowlevel.checkpoint()
        return out

    def worker(i: int) -> None:
        try:
            results[i] = portal.call(body, i)
            assert all(ident == threading.get_ident() for ident, _ in results[i])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sorted(results) == list(range(8))
    for i, out in results.items():
        assert [tag for _, tag in out] == [f"{i}-{j}" for j in range(25)]


def test_cancelled_wait_drops_the_result_and_keeps_the_thread_sane(portal: Portal) -> None:
    started, given_up = threading.Event(), threading.Event()
    finished: list[str] = []

    def slow_user_function() -> str:
        started.set()
        assert given_up.wait(5)  # cannot be interrupted: runs on after the wait is cancelled
        finished.append("done")
        return "dropped"

    async def cancel_once_started(scope: anyio.CancelScope) -> None:
        assert await anyio.to_thread.run_sync(started.wait, 5)
        scope.cancel()

    async def body() -> str:
        with anyio.CancelScope() as scope:  # cancelled while the function runs (not before)
            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_once_started, scope)
                await call_user(slow_user_function)
                return "not cancelled"
        given_up.set()
        # The thread is still busy with the function: this request waits for it.
        return (await call_user(whoami, "after"))[1]

    assert portal.call(body) == "after"
    assert finished == ["done"]
    started.clear()
    given_up.clear()
    assert portal.call(body) == "after"
    assert finished == ["done", "done"]


def test_a_request_cancelled_before_it_runs_never_runs(portal: Portal) -> None:
    ran: list[str] = []
    started, release = threading.Event(), threading.Event()

    def user_function(tag: str) -> None:
        ran.append(tag)
        if tag == "first":
            started.set()
            assert release.wait(5)  # keeps the thread busy until "second" is given up

    async def body() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call_user, user_function, "first")
            assert await anyio.to_thread.run_sync(started.wait, 5)  # the thread runs "first"
            with anyio.move_on_after(0.001):
                await call_user(user_function, "second")
            release.set()

    portal.call(body)
    assert ran == ["first"]


def test_interrupt_in_the_user_function_cancels_the_call(portal: Portal) -> None:
    cancelled = threading.Event()

    def interrupted() -> None:
        raise KeyboardInterrupt

    async def body() -> None:
        try:
            await call_user(interrupted)
        finally:
            cancelled.set()

    with pytest.raises(KeyboardInterrupt):
        portal.call(body)
    assert cancelled.wait(5)
    assert portal.call(async_whoami, "ok")[1] == "ok"


def test_wrap_cm_enter_and_exit_run_in_the_calling_thread(portal: Portal) -> None:
    seen: dict[str, int] = {}

    @asynccontextmanager
    async def scoped() -> AsyncGenerator[str, None]:
        seen["enter"] = (await call_user(whoami))[0]
        yield "value"
        seen["exit"] = (await call_user(whoami))[0]

    with portal.wrap_cm(scoped()) as value:
        assert value == "value"

        async def inside() -> int:
            return (await call_user(whoami))[0]

        seen["body"] = portal.call(inside)
    assert seen == dict.fromkeys(("enter", "body", "exit"), threading.get_ident())


def test_wrap_cm_background_task_uses_a_worker_thread(portal: Portal) -> None:
    """A task started in ``__aenter__`` outlives the enter: no thread waits for it."""
    seen: list[int] = []
    done = threading.Event()

    @asynccontextmanager
    async def with_background() -> AsyncGenerator[None, None]:
        async def later() -> None:
            await anyio.sleep(0.01)
            seen.append((await call_user(whoami))[0])
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(later)
            yield

    with portal.wrap_cm(with_background()):
        assert done.wait(5)
    loop_thread = portal.call(async_whoami)[0]
    assert seen[0] not in {threading.get_ident(), loop_thread}


def test_wrap_iter_items_run_user_functions_in_the_calling_thread(portal: Portal) -> None:
    async def numbers() -> AsyncIterator[int]:
        for _ in range(3):
            yield (await call_user(whoami))[0]

    assert list(portal.wrap_iter(numbers())) == [threading.get_ident()] * 3


def test_wrap_iter_closed_by_the_collector_uses_a_worker_thread(portal: Portal) -> None:
    """An iterator dropped on the loop thread is closed there, with no thread to ask."""
    closed_in: list[int] = []
    closed = threading.Event()

    async def numbers() -> AsyncIterator[int]:
        try:
            while True:
                yield 1
        finally:
            closed_in.append((await call_user(whoami))[0])
            closed.set()

    iterator = cast("Generator[int, None, None]", portal.wrap_iter(numbers()))
    assert next(iterator) == 1

    async def drop_on_the_loop(it: Generator[int, None, None]) -> int:
        it.close()  # a generator's close runs its finally: here, on the loop thread
        return threading.get_ident()

    loop_thread = portal.call(drop_on_the_loop, iterator)
    assert closed.wait(5)
    assert closed_in[0] not in {threading.get_ident(), loop_thread}


def test_a_call_that_finishes_while_its_thread_serves(portal: Portal) -> None:
    given_up = threading.Event()
    finished: list[str] = []

    def slow_user_function() -> None:
        assert given_up.wait(5)
        time.sleep(0.05)  # the call ends meanwhile
        finished.append("done")

    async def body() -> str:
        with anyio.move_on_after(0.01):
            await call_user(slow_user_function)
        given_up.set()
        return "gave up waiting"

    assert portal.call(body) == "gave up waiting"
    assert finished == ["done"]  # the thread finished the function before it returned
    assert portal.call(async_whoami, "next")[1] == "next"
