"""Operations a sync face runs whole in its calling thread (``inline_on_sync_face``)."""

from __future__ import annotations

import threading
import types
from collections.abc import Generator

import pytest

from anyservices._core._portal._call import run_inline
from anyservices._core._threads import ThreadRunner, budget, inline, inline_on_sync_face


@types.coroutine
def _suspend() -> Generator[None, None, None]:
    yield


def test_an_inline_operation_runs_its_driver_call_in_the_calling_thread() -> None:
    runner = ThreadRunner(2, name="inline")

    @inline_on_sync_face
    async def operation() -> tuple[int, float | None]:
        return await runner.run(threading.get_ident), budget(3.0)

    assert run_inline(operation, (), {}) == (threading.get_ident(), 3.0)
    stats = runner.statistics()
    assert (stats.calls, stats.threads_in_use, stats.peak_threads_in_use) == (1, 0, 1)
    assert inline.get() is False  # set only in the call's own context


def test_an_inline_operations_error_goes_through_its_mapping() -> None:
    runner = ThreadRunner(1, name="inline")

    def fails() -> None:
        raise KeyError("driver")

    @inline_on_sync_face
    async def operation() -> None:
        await runner.run(fails)

    with pytest.raises(KeyError, match="driver"):
        run_inline(operation, (), {})
    assert runner.statistics().errors == 1


def test_inline_calls_wait_for_a_slot_beyond_the_size() -> None:
    runner = ThreadRunner(1, name="inline")
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        inside.set()
        assert leave.wait(5)

    @inline_on_sync_face
    async def operation(func: object) -> None:
        await runner.run(func)  # type: ignore[arg-type]

    first = threading.Thread(target=run_inline, args=(operation, (hold,), {}))
    first.start()
    assert inside.wait(5)
    second = threading.Thread(target=run_inline, args=(operation, (lambda: None,), {}))
    second.start()
    for _ in range(500):  # bounded: the second caller waits for the one slot
        if runner.statistics().waiting == 1:
            break
        threading.Event().wait(0.01)
    assert runner.statistics().waiting == 1
    leave.set()
    first.join(5)
    second.join(5)
    stats = runner.statistics()
    assert (stats.calls, stats.waiting, stats.peak_threads_in_use) == (2, 0, 1)


def test_a_marked_operation_that_suspends_is_refused_by_name() -> None:
    @inline_on_sync_face
    async def suspends() -> None:
        await _suspend()

    with pytest.raises(RuntimeError, match=r"suspends is marked inline_on_sync_face but suspended"):
        run_inline(suspends, (), {})
