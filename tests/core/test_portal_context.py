"""A sync-face call runs in a copy of its caller thread's context (no network).

So a context variable the caller set (an OpenTelemetry span, say) is seen inside the
service call, and what the call sets does not leak back to the caller.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel
import pytest

from anyservices._core._caller import call_user
from anyservices._core._portal import Backend, Portal, acquire_portal, release_portal

BACKENDS: list[Backend] = ["asyncio", "trio"]

span: contextvars.ContextVar[str] = contextvars.ContextVar("span", default="none")


@pytest.fixture(params=BACKENDS)
def portal(request: pytest.FixtureRequest) -> Iterator[Portal]:
    portal = acquire_portal(request.param)
    yield portal
    release_portal(portal)


def in_context(value: str) -> contextvars.Context:
    """A context of this thread's in which ``span`` is ``value``."""
    context = contextvars.copy_context()
    context.run(span.set, value)
    return context


async def read_span(suspend: bool) -> str:
    if suspend:
        await anyio.lowlevel.checkpoint()
    return span.get()


async def set_span(value: str, suspend: bool) -> str:
    before = span.get()
    span.set(value)
    if suspend:
        await anyio.lowlevel.checkpoint()
    return before


@pytest.mark.parametrize("suspend", [False, True], ids=["inline", "suspended"])
def test_a_call_sees_the_callers_context(portal: Portal, suspend: bool) -> None:
    assert in_context("caller").run(portal.call, read_span, suspend) == "caller"
    assert portal.call(read_span, suspend) == "none"  # this thread's own, unset


@pytest.mark.parametrize("suspend", [False, True], ids=["inline", "suspended"])
def test_what_a_call_sets_does_not_leak_back(portal: Portal, suspend: bool) -> None:
    context = in_context("caller")
    assert context.run(portal.call, set_span, "inside", suspend) == "caller"
    assert context[span] == "caller"
    assert context.run(portal.call, read_span, suspend) == "caller"


def test_concurrent_callers_each_see_their_own(portal: Portal) -> None:
    both_inside = threading.Barrier(2, timeout=10)

    async def read_when_both_inside() -> str:
        await anyio.to_thread.run_sync(both_inside.wait)  # both calls are in flight
        return span.get()

    seen: dict[str, str] = {}

    def caller(name: str) -> None:
        seen[name] = in_context(name).run(portal.call, read_when_both_inside)

    threads = [threading.Thread(target=caller, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": "a", "b": "b"}


def test_tasks_started_inside_a_call_inherit_the_callers_context(portal: Portal) -> None:
    async def spawn_and_read() -> list[str]:
        seen: list[str] = []

        async def child() -> None:
            await anyio.lowlevel.checkpoint()
            seen.append(span.get())

        async with anyio.create_task_group() as tg:
            tg.start_soon(child)
        return seen

    assert in_context("caller").run(portal.call, spawn_and_read) == ["caller"]


def test_a_with_block_enters_and_exits_in_the_callers_context(portal: Portal) -> None:
    seen: list[str] = []

    @asynccontextmanager
    async def traced() -> AsyncGenerator[str, None]:
        seen.append(span.get())
        span.set("entered")  # the host's own: its exit sees it, the caller does not
        yield "value"
        seen.append(span.get())

    def use() -> str:
        with portal.wrap_cm(traced()) as value:
            assert span.get() == "caller"
        return str(value)

    assert in_context("caller").run(use) == "value"
    assert seen == ["caller", "entered"]


def test_an_iterator_steps_in_the_callers_context(portal: Portal) -> None:
    async def spans() -> AsyncIterator[str]:
        for _ in range(2):
            await anyio.lowlevel.checkpoint()
            yield span.get()

    assert in_context("caller").run(lambda: list(portal.wrap_iter(spans()))) == [
        "caller",
        "caller",
    ]


@pytest.mark.parametrize("suspend", [False, True], ids=["inline", "suspended"])
def test_a_plain_user_function_sees_the_calls_context(portal: Portal, suspend: bool) -> None:
    """As inline on an async face: call_user's function sees what the call set."""

    def user_function() -> tuple[int, str]:
        seen = span.get()
        span.set("user")  # stays in the function's own copy
        return threading.get_ident(), seen

    async def traced_call() -> tuple[tuple[int, str], str]:
        span.set(span.get() + "/service")
        if suspend:
            await anyio.lowlevel.checkpoint()
        result = await call_user(user_function)
        return result, span.get()

    context = in_context("caller")
    (ran_in, seen), after = context.run(portal.call, traced_call)
    assert ran_in == threading.get_ident()  # the caller thread ran it
    assert seen == "caller/service"
    assert after == "caller/service"
    assert context[span] == "caller"
