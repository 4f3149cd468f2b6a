"""The one-shot waiter a Redis request's caller waits on, on asyncio and trio."""

from __future__ import annotations

import importlib
import sys

import anyio
import pytest

from anyservices._core._waiter import AsyncioWaiter, waiter_class


async def test_set_wakes_the_waiting_task() -> None:
    waiter = waiter_class()()
    woke: list[str] = []

    async def wait() -> None:
        await waiter.wait()
        woke.append("woke")

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        assert woke == []
        waiter.set()
    assert woke == ["woke"]


async def test_a_cancelled_wait_ends_and_a_later_set_does_nothing() -> None:
    waiter = waiter_class()()
    with anyio.move_on_after(0.01) as scope:
        await waiter.wait()
    assert scope.cancelled_caught
    waiter.set()  # nobody waits any more: no error, no wake-up of anyone
    waiter.set()
    await anyio.lowlevel.checkpoint()


@pytest.mark.faces("asyncio")
async def test_asyncio_is_picked_without_trio_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "trio", raising=False)
    assert waiter_class() is AsyncioWaiter


@pytest.mark.faces("asyncio")
async def test_asyncio_is_picked_with_trio_imported_but_not_running() -> None:
    importlib.import_module("trio")  # imported, as when the trio face ran first
    assert "trio" in sys.modules
    assert waiter_class() is AsyncioWaiter
