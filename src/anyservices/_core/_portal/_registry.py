"""The process-wide registry: one shared portal per backend, reference counted."""

from __future__ import annotations

import os
import threading

from ._portal import Backend, Portal

__all__ = ("acquire_portal", "release_portal")

_lock = threading.Lock()
_portals: dict[str, tuple[Portal, int]] = {}


def acquire_portal(backend: Backend) -> Portal:
    """Return the shared portal for ``backend``, starting it for its first user."""
    with _lock:
        portal, users = _portals.get(backend, (None, 0))
        if portal is None:
            portal = Portal(backend)
            portal.start()
        _portals[backend] = (portal, users + 1)
        return portal


def release_portal(portal: Portal) -> None:
    """Drop one user of ``portal``; the last one out stops it."""
    with _lock:
        current, users = _portals.get(portal.backend, (None, 0))
        if current is not portal:
            return
        if users > 1:
            _portals[portal.backend] = (portal, users - 1)
            return
        del _portals[portal.backend]
    portal.stop()


def _after_fork_in_child() -> None:
    """A forked child has none of the portal threads: new faces get new portals.

    The faces opened before the fork refuse every call with a ServiceClosedError (the
    parent still owns their services), and leaving their ``with`` releases nothing.
    """
    global _lock  # noqa: PLW0603 -- another thread may have held it at the fork
    _lock = threading.Lock()
    for portal, _ in _portals.values():
        portal.forsake()
    _portals.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
