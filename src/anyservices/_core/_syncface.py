"""The base of the generated sync faces (see ``scripts/gen_sync_faces.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar, cast

from ._portal import Portal

__all__ = ("SyncFace", "unwrap")

W = TypeVar("W")


class SyncFace(Generic[W]):
    """Runs every call of the wrapped async object on a shared portal.

    Generated subclasses mirror the async class method by method: coroutines become
    calls, async context managers ``with`` blocks, async iterators iterators.
    """

    def __init__(self, portal: Portal, wrapped: W) -> None:
        self._portal = portal
        self._wrapped = wrapped
        self._on_close: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<sync face of {self._wrapped!r} on {self._portal.backend}>"

    @property
    def portal(self) -> Portal:
        """The shared portal this face runs on."""
        return self._portal

    def close(self) -> None:
        """Close the service this face was opened for (like leaving its ``with`` block)."""
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()


def unwrap(value: object) -> object:
    """Hand the async object back to async code when a sync face is passed as argument."""
    if isinstance(value, SyncFace):
        return cast("SyncFace[object]", value)._wrapped  # noqa: SLF001
    return value
