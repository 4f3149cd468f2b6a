"""The demo's steps. Each service adds what it shows here as it lands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


async def async_steps() -> list[str]:
    """What the demo does on an event loop (asyncio or trio)."""
    return ["no services yet: the foundation only"]


def sync_steps(blocking: Callable[..., Any]) -> list[str]:
    """The same through the sync face."""
    del blocking
    return ["no services yet: the foundation only"]
