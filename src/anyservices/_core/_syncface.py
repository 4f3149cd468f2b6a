"""The base of the generated sync faces (``scripts/gen_sync_faces.py``) and their registry.

Each generated ``_sync.py`` ends with ``register_face(AsyncClass, SyncClass)``; a service's
``__blocking__`` asks :func:`sync_face` for its face, so no service module imports its
generated face (the face imports the service, never the other way round). A service
package's ``__init__`` imports its ``_sync`` module, so the face is registered whenever
the service can be imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:
    from ._portal import Portal

__all__ = ("SyncFace", "has_face", "register_face", "sync_face", "unwrap")

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


_FACES: dict[type[Any], type[SyncFace[Any]]] = {}


def register_face(async_class: type[W], face_class: type[SyncFace[W]]) -> None:
    """Make ``face_class`` the sync face of ``async_class`` (and of its subclasses)."""
    _FACES[async_class] = face_class


def sync_face(portal: Portal, wrapped: object) -> Any:
    """The registered sync face of ``wrapped`` on ``portal``.

    The nearest registered class in ``wrapped``'s MRO decides, so a user's subclass of
    a service gets the service's face. Typed ``Any``: the caller (a ``__blocking__``)
    annotates the face class it knows.
    """
    for klass in type(wrapped).__mro__:
        face_class = _FACES.get(klass)
        if face_class is not None:
            return face_class(portal, wrapped)
    raise TypeError(f"no sync face is registered for {type(wrapped).__qualname__}")


def has_face(value: object) -> bool:
    """Whether a sync face is registered for ``value``'s class (or a base of it)."""
    return any(klass in _FACES for klass in type(value).__mro__)


def unwrap(value: object) -> object:
    """Hand the async object back to async code when a sync face is passed as argument."""
    if isinstance(value, SyncFace):
        return cast("SyncFace[object]", value)._wrapped  # noqa: SLF001
    return value
