"""Run one async test body on asyncio, trio and the sync face.

``open_face(face, service)`` opens ``service`` on the named face and hands back an
object with the async API: on ``"asyncio"``/``"trio"`` the service itself, on
``"sync"`` an :class:`AsyncView` of its sync face, which runs each sync call in a
worker thread. So the test body is written once, with ``await``, and the sync face is
exercised for real (its portal, its ``with`` blocks, its iterators)::

    @pytest.mark.parametrize("face", FACES)
    async def test_get(face: Face) -> None:
        async with open_face(face, RedisService(cfg)) as redis:
            assert await redis.get("missing") is None
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Final, Literal, TypeVar, cast

import anyio.to_thread

from .._core._blocking import SupportsBlocking, blocking
from .._core._portal import Backend
from .._core._syncface import SyncFace

__all__ = ("FACES", "AsyncView", "Face", "backend_of", "open_face")

Face = Literal["asyncio", "trio", "sync"]
FACES: Final[tuple[Face, ...]] = ("asyncio", "trio", "sync")
S = TypeVar("S", bound=SupportsBlocking[Any])


def backend_of(face: Face) -> Backend:
    """The event loop a test on ``face`` runs in (the sync face's test driver uses asyncio)."""
    return "trio" if face == "trio" else "asyncio"


@asynccontextmanager
async def open_face(
    face: Face, service: S, *, sync_backend: Backend = "asyncio"
) -> AsyncGenerator[S, None]:
    """Open ``service`` on ``face``; the value has the async API either way."""
    if face != "sync":
        async with service:
            yield service
        return
    opener = blocking(service, backend=sync_backend)
    sync_face = await anyio.to_thread.run_sync(opener.open)
    try:
        yield cast("S", AsyncView(sync_face))
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(opener.close)


async def _in_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return _adapt(await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs)))


def _adapt(value: Any) -> Any:
    if isinstance(value, SyncFace):
        return AsyncView(value)  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(value, AbstractContextManager):
        return _AsyncCM(cast("AbstractContextManager[Any]", value))
    if isinstance(value, Iterator):
        return _AsyncIter(value)  # pyright: ignore[reportUnknownArgumentType]
    return value


class AsyncView:
    """Presents a sync face with the async API, running each call in a worker thread."""

    def __init__(self, face: SyncFace[Any]) -> None:
        self._face = face
        self._async: Any = face._wrapped  # noqa: SLF001 -- to learn which methods are coroutines

    def __repr__(self) -> str:
        return f"<AsyncView of {self._face!r}>"

    @property
    def sync_face(self) -> SyncFace[Any]:
        """The sync face under test, for calls a test wants to make directly."""
        return self._face

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._face, name)
        original: object = getattr(self._async.__class__, name, None)
        if isinstance(original, property) or not callable(target):
            return _adapt(target)
        if inspect.iscoroutinefunction(original):
            return functools.partial(_in_thread, target)

        def plain(*args: Any, **kwargs: Any) -> Any:
            return _adapt(target(*args, **kwargs))

        return plain

    def __aiter__(self) -> _AsyncIter:
        return _AsyncIter(iter(self._face))  # type: ignore[call-overload]


class _AsyncCM:
    def __init__(self, cm: AbstractContextManager[Any]) -> None:
        self._cm = cm

    async def __aenter__(self) -> Any:
        return await _in_thread(self._cm.__enter__)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await anyio.to_thread.run_sync(self._cm.__exit__, exc_type, exc, tb)


class _AsyncIter:
    def __init__(self, iterator: Iterator[Any]) -> None:
        self._iterator = iterator

    def __aiter__(self) -> _AsyncIter:
        return self

    async def __anext__(self) -> Any:
        sentinel = object()
        item = await anyio.to_thread.run_sync(next, self._iterator, sentinel)
        if item is sentinel:
            raise StopAsyncIteration
        return _adapt(item)

    async def aclose(self) -> None:
        close = getattr(self._iterator, "close", None)
        if close is not None:
            await anyio.to_thread.run_sync(close)
