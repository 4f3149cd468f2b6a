"""The sync face's run: the one pipeline drives the ``blocking()`` faces.

The services are opened with ``anyservices.blocking`` as a sync program opens them;
then the pipeline runs on a private asyncio loop in this thread, and every call it
makes on a service is a call of the sync face in a worker thread (three stores at a
time, as a sync app's thread pool would). Only how a call is made differs from the
async faces; this view is that difference:

- a coroutine method becomes a sync-face call in a worker thread;
- what a sync face hands back gets the async API again: a ``with`` block an ``async
  with``, an iterator an async iterator, a decorated function awaitable calls;
- what the pipeline passes in gets the sync API: a viewed iterator its sync iterator,
  an async function a plain one that runs it back on the pipeline's loop.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.from_thread
import anyio.to_thread

from .._core._blocking import blocking
from .._core._syncface import SyncFace
from ._pipeline import pipeline
from ._services import DemoServices

if TYPE_CHECKING:
    from ..http import HttpService
    from ..minio import MinioService
    from ..mongo import MongoService
    from ..redis import RedisService
    from ._report import Report

__all__ = ("run_sync",)


def run_sync(services: DemoServices, report: Report) -> None:
    """The pipeline over the sync faces of ``services``."""
    with ExitStack() as stack:
        http, s3, mongo, redis = (
            _FaceView(stack.enter_context(blocking(service)))
            for service in (services.http, services.s3, services.mongo, services.redis)
        )
        views = DemoServices(
            http=cast("HttpService", http),
            s3=cast("MinioService", s3),
            mongo=cast("MongoService", mongo),
            redis=cast("RedisService", redis),
            run_id=services.run_id,
        )
        anyio.run(pipeline, views, report)


class _FaceView:
    """A sync face with the async API."""

    def __init__(self, face: SyncFace[Any]) -> None:
        self._face = face

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._face, name)
        wrapped: object = self._face._wrapped  # noqa: SLF001 -- to read its async API
        original = getattr(type(wrapped), name)
        if inspect.iscoroutinefunction(original):
            return functools.partial(_in_thread, method)
        return functools.partial(_inline, method)  # cheap: a decorator, an unentered block


class _ContextView:
    """A sync face's ``with`` block as an ``async with``."""

    def __init__(self, context: AbstractContextManager[Any]) -> None:
        self._context = context

    async def __aenter__(self) -> Any:
        return await _in_thread(self._context.__enter__)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await _in_thread(self._context.__exit__, exc_type, exc, tb)


class _IteratorView:
    """A sync face's iterator, handed on to another sync face, then closed (``aclose``)."""

    def __init__(self, iterator: Iterator[Any]) -> None:
        self.iterator = iterator

    async def aclose(self) -> None:
        await _in_thread(getattr(self.iterator, "close", _nothing))


class _CallableView:
    """A decorated function of a sync face: each call, and each of its methods, in a thread."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self._function = function

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await _in_thread(self._function, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return functools.partial(_in_thread, getattr(self._function, name))


def _nothing() -> None:
    """What closing an iterator without ``close`` does."""


def _async_api(value: object) -> Any:
    # pyright sees SyncFace[Unknown] and Iterator[Unknown] here: any face, any item.
    if isinstance(value, SyncFace):
        return _FaceView(value)  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(value, AbstractContextManager):
        return _ContextView(cast("AbstractContextManager[Any]", value))
    if isinstance(value, Iterator):
        return _IteratorView(value)  # pyright: ignore[reportUnknownArgumentType]
    if inspect.isfunction(value):  # a decorator: applied at once, to an async function
        return functools.partial(_inline, value)
    if callable(value):
        return _CallableView(value)
    return value


def _sync_api(value: object) -> object:
    if isinstance(value, _IteratorView):
        return value.iterator
    if inspect.iscoroutinefunction(value):
        function: Callable[..., Any] = value

        def plain(*args: Any, **kwargs: Any) -> Any:
            return anyio.from_thread.run(functools.partial(function, *args, **kwargs))

        return plain
    return value


def _inline(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return _async_api(method(*map(_sync_api, args), **{k: _sync_api(v) for k, v in kwargs.items()}))


async def _in_thread(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(_inline, method, *args, **kwargs))
