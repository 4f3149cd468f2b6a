"""``blocking(service)``: the sync face of any service, on one shared portal thread."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar, cast

from ._portal import Backend, Portal, acquire_portal, release_portal
from ._syncface import SyncFace

__all__ = ("Blocking", "SupportsBlocking", "blocking")

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


class SupportsBlocking(Protocol[T_co]):
    """What ``blocking()`` accepts: an async context manager that knows its sync face."""

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> bool | None: ...

    def __blocking__(self, portal: Portal, /) -> T_co: ...


class Blocking(Generic[T]):
    """Opens a service on the shared portal; ``with`` it, or ``open()`` and ``close()``.

    ``open()``/``close()`` suit code with no natural block, such as a Django app
    module; ``close()`` must then run before the program ends.
    """

    def __init__(self, service: SupportsBlocking[T], backend: Backend = "asyncio") -> None:
        if backend not in ("asyncio", "trio"):
            raise ValueError(f"backend must be 'asyncio' or 'trio', not {backend!r}")
        self._service = service
        self._backend: Backend = backend
        self._portal: Portal | None = None
        self._cm: AbstractContextManager[Any] | None = None

    def __repr__(self) -> str:
        return f"<Blocking {self._service!r} on {self._backend}>"

    def open(self) -> T:
        if self._portal is not None:
            raise RuntimeError("this blocking() face is already open")
        portal = acquire_portal(self._backend)
        cm = portal.wrap_cm(self._service)
        try:
            cm.__enter__()
        except BaseException:
            release_portal(portal)
            raise
        self._portal, self._cm = portal, cm
        face = self._service.__blocking__(portal)
        _close_with(face, self.close)
        return face

    def close(self) -> None:
        self._exit(None, None, None)

    def _exit(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        portal, cm = self._portal, self._cm
        self._portal = self._cm = None
        if portal is None or cm is None:
            return False
        try:
            return bool(cm.__exit__(exc_type, exc, tb))
        finally:
            release_portal(portal)

    def __enter__(self) -> T:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A service never suppresses an exception, so type checkers may rely on that.
        self._exit(exc_type, exc, tb)


def _close_with(face: object, close: Callable[[], None]) -> None:
    """Let ``face.close()`` close what opened it."""
    if isinstance(face, SyncFace):
        cast("SyncFace[object]", face)._on_close = close  # noqa: SLF001


def blocking(service: SupportsBlocking[T], *, backend: Backend = "asyncio") -> Blocking[T]:
    """The sync face of ``service``: ``with blocking(RedisService(cfg)) as redis: ...``.

    Every call runs on ONE portal thread per backend, shared by all sync faces and
    threads of the process; it starts with the first face and stops with the last.
    """
    return Blocking(service, backend)
