"""The worker-thread runner: limits, statistics, errors, wrap, deadlines, cancellation."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import TypeVar

import anyio
import pytest

from anyservices._core._threads import ThreadRunner, ThreadStatistics, budget

T = TypeVar("T")


class DriverError(Exception):
    pass


class OurError(Exception):
    pass


@contextmanager
def to_ours() -> Generator[None]:
    try:
        yield
    except DriverError as exc:
        raise OurError(f"mapped: {exc}") from exc


def held(runner: ThreadRunner) -> int:
    """Tokens of the runner's limiter borrowed right now."""
    return int(runner.limiter.borrowed_tokens)


async def test_bounds_threads_and_counts_the_peak() -> None:
    runner = ThreadRunner(3, name="t")
    gate = threading.Event()
    three_in = threading.Event()
    arrived: list[int] = []
    lock = threading.Lock()

    def work() -> int:
        with lock:
            arrived.append(1)
            if len(arrived) == 3:
                three_in.set()
        gate.wait(5)
        return 1

    results: list[int] = []

    async def one() -> None:
        results.append(await runner.run(work))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(one)
        await anyio.to_thread.run_sync(three_in.wait, 5)
        await anyio.wait_all_tasks_blocked()
        stats = runner.statistics()
        assert (stats.threads_in_use, stats.waiting, held(runner)) == (3, 7, 3)
        gate.set()
    assert results == [1] * 10
    assert runner.statistics() == ThreadStatistics(
        max_threads=3, threads_in_use=0, peak_threads_in_use=3, waiting=0, calls=10, errors=0
    )
    assert repr(runner) == "<ThreadRunner t size=3>"


async def test_errors_are_counted_and_mapped() -> None:
    runner = ThreadRunner(2, name="t")

    def fail() -> None:
        raise DriverError("boom")

    def other() -> None:
        raise KeyError("k")

    with pytest.raises(OurError, match="mapped: boom") as caught:
        await runner.run(fail, map_errors=to_ours)
    assert isinstance(caught.value.__cause__, DriverError)
    with pytest.raises(KeyError):  # map_errors passes what it does not know
        await runner.run(other, map_errors=to_ours)
    with pytest.raises(DriverError):  # no map_errors: raised as it is
        await runner.run(fail)
    assert await runner.run(lambda: 7, map_errors=to_ours) == 7
    stats = runner.statistics()
    assert (stats.calls, stats.errors, stats.threads_in_use) == (4, 3, 0)


async def test_wrap_runs_in_the_worker_thread_around_the_call() -> None:
    runner = ThreadRunner(1, name="t")
    loop_thread = threading.get_ident()
    seen: list[str] = []

    def wrap(func: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            seen.append("in thread" if threading.get_ident() != loop_thread else "in loop")
            return func()

        return run

    assert await runner.run(lambda: "x", wrap=wrap) == "x"
    assert seen == ["in thread"]


async def test_budget_is_the_timeout_or_the_deadline_the_sooner() -> None:
    assert budget(None) is None
    assert budget(2.5) == 2.5
    with anyio.fail_after(5):  # noqa: ASYNC100 -- budget() reads the deadline, nothing awaits
        left = budget(None)
        assert left is not None
        assert 0 < left <= 5
        assert budget(1.0) == 1.0
        capped = budget(60.0)
        assert capped is not None
        assert capped <= 5
    with anyio.CancelScope(deadline=anyio.current_time() - 1):  # noqa: ASYNC100 -- as above
        assert budget(10.0) == 0.001  # a deadline already passed: the driver fails at once


async def test_cancelled_while_waiting_for_a_token_never_starts_a_thread() -> None:
    runner = ThreadRunner(1, name="t")
    release = threading.Event()
    started = threading.Event()
    second_ran = threading.Event()

    def first() -> None:
        started.set()
        release.wait(5)

    outcomes: list[str] = []
    # The cancelled scope is the caller's own: the test's task never waits cancelled.
    scope = anyio.CancelScope()

    async def second() -> None:
        with scope:
            try:
                await runner.run(second_ran.set)
            except anyio.get_cancelled_exc_class():
                outcomes.append("cancelled")
                raise
            outcomes.append("returned")  # fails the test below

    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run, first)
        await anyio.to_thread.run_sync(started.wait, 5)
        async with anyio.create_task_group() as inner:
            inner.start_soon(second)
            await anyio.wait_all_tasks_blocked()
            assert runner.statistics().waiting == 1
            scope.cancel()
        assert scope.cancelled_caught
        assert outcomes == ["cancelled"]
        assert runner.statistics().waiting == 0
        assert held(runner) == 1  # the first call still runs
        release.set()
    assert not second_ran.is_set()
    stats = runner.statistics()
    assert (stats.calls, held(runner)) == (1, 0)


@pytest.mark.parametrize("fails", [False, True])
async def test_cancelled_while_the_thread_runs_waits_for_it_then_raises(fails: bool) -> None:
    runner = ThreadRunner(1, name="t")
    started = threading.Event()
    finish = threading.Event()
    tokens_in_thread: list[int] = []

    def work() -> str:
        started.set()
        finish.wait(5)
        tokens_in_thread.append(held(runner))
        if fails:
            raise DriverError("late")
        return "result"

    outcomes: list[str] = []
    scope = anyio.CancelScope()  # the caller's own (see above)

    async def caller() -> None:
        with scope:
            try:
                value = await runner.run(work, map_errors=to_ours)
            except anyio.get_cancelled_exc_class():
                # The await returned only once the thread was done with its token.
                outcomes.append(f"cancelled, threads={runner.statistics().threads_in_use}")
                raise
            outcomes.append(value)  # fails the test below

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await anyio.to_thread.run_sync(started.wait, 5)
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        assert runner.statistics().threads_in_use == 1
        assert held(runner) == 1
        assert outcomes == []  # still waiting for its thread
        finish.set()
    assert scope.cancelled_caught
    assert outcomes == ["cancelled, threads=0"]
    assert tokens_in_thread == [1]
    stats = runner.statistics()
    assert (stats.calls, stats.errors, stats.threads_in_use, held(runner)) == (1, int(fails), 0, 0)
