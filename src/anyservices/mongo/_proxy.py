"""PyMongo's objects without blocking: each sync object behind the API of its async twin.

PyMongo's synchronous classes are generated from its asynchronous ones (``Cursor`` from
``AsyncCursor``, ``Collection`` from ``AsyncCollection``...), with the same names. So the
surface is derived, never listed: :func:`derive_async_api` gives a proxy class every
public attribute of the async twin. A coroutine method there runs the sync method in a
worker thread (through the service: its limiter, driver timeout and ``map_errors``); a
plain method or a property there does no I/O and runs inline. Results that are PyMongo
objects (cursors, change streams, databases, collections) come back proxied the same way.

The sync face wraps the async proxies in :class:`SyncProxy` classes derived the same way
(:func:`derive_sync_api`), whose coroutine methods run on the portal: one
implementation, two faces.
"""

from __future__ import annotations

import collections
import functools
import importlib
import inspect
import itertools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Self, cast

import anyio
from pymongo.asynchronous.collection import AsyncCollection

from .._core._syncface import has_face, sync_face, unwrap
from ._session import MongoSession

if TYPE_CHECKING:
    from pymongo.collection import Collection

    from .._core._portal import Portal
    from ._service import MongoService

__all__ = (
    "AsyncIteratorProxy",
    "AsyncProxy",
    "SyncIteratorProxy",
    "SyncProxy",
    "SyncSide",
    "async_twin",
    "derive_async_api",
    "derive_sync_api",
    "sync_wrap",
    "wrap_driver",
)


_TWINS: dict[type[Any], type[Any] | None] = {}


def async_twin(sync_class: type[Any]) -> type[Any] | None:
    """``pymongo.asynchronous.x.AsyncName`` for ``pymongo.synchronous.x.Name``, if any."""
    if sync_class not in _TWINS:
        _TWINS[sync_class] = _find_twin(sync_class)
    return _TWINS[sync_class]


def _find_twin(sync_class: type[Any]) -> type[Any] | None:
    module = sync_class.__module__
    if not module.startswith("pymongo.synchronous."):
        return None
    twin_module = importlib.import_module(module.replace(".synchronous.", ".asynchronous.", 1))
    twin: type[Any] | None = getattr(twin_module, f"Async{sync_class.__name__}", None)
    return twin


def _public(api: type[Any]) -> Iterator[tuple[str, object]]:
    """The twin's public attributes: properties and methods (tests check there is no other)."""
    for name in dir(api):
        if not name.startswith("_"):
            yield name, inspect.getattr_static(api, name)


def _defined(cls: type[Any]) -> set[str]:
    """Names ``cls`` defines itself or inherits from our classes (not from ``object``)."""
    return {name for klass in cls.__mro__ if klass is not object for name in vars(klass)}


def _unwrap_driver(value: object) -> object:
    """What the driver takes for ``value``: our session or proxy unwrapped."""
    if isinstance(value, MongoSession):
        return value.driver_session
    if isinstance(value, AsyncProxy):
        return value.driver_object
    return value


class AsyncProxy:
    """A PyMongo object with the API of its async twin, its I/O in worker threads."""

    #: The async twin whose API this class has (set by ``derive_async_api``).
    api: type[Any] = object

    def __init__(self, service: MongoService, target: Any, resource: str | None) -> None:
        self._service = service
        self._target = target
        self._resource = resource

    def __repr__(self) -> str:
        return f"<{self.api.__name__} proxy of {self._target!r}>"

    @property
    def driver_object(self) -> Any:
        """The PyMongo (sync) object behind this proxy: blocking, for your own threads."""
        return self._target

    def _wrap(self, value: object) -> Any:
        return self if value is self._target else wrap_driver(self._service, value, self._resource)

    async def _driver_call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self._target, name)
        args = tuple(_unwrap_driver(a) for a in args)
        kwargs = {k: _unwrap_driver(v) for k, v in kwargs.items()}
        work = functools.partial(method, *args, **kwargs)
        run = self._service._run  # noqa: SLF001 -- the service's driver boundary
        return self._wrap(await run(work, name, self._resource))

    def _inline_call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        args = tuple(_unwrap_driver(a) for a in args)
        kwargs = {k: _unwrap_driver(v) for k, v in kwargs.items()}
        return self._wrap(getattr(self._target, name)(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        # Not in the twin's API: a sub-collection (``db.users``, ``coll.archive``).
        if name.startswith("_"):
            raise AttributeError(name)
        return self._wrap(getattr(self._target, name))

    def __getitem__(self, key: str) -> Any:  # db["users"], coll["archive"]: no I/O
        return self._wrap(self._target[key])


def _async_method(name: str, template: Callable[..., Any]) -> Callable[..., Any]:
    async def in_thread(self: AsyncProxy, *args: Any, **kwargs: Any) -> Any:
        return await self._driver_call(name, *args, **kwargs)

    def inline(self: AsyncProxy, *args: Any, **kwargs: Any) -> Any:
        return self._inline_call(name, *args, **kwargs)

    method = in_thread if inspect.iscoroutinefunction(template) else inline
    return functools.wraps(template)(method)


def _async_property(name: str, template: property) -> property:
    def get(self: AsyncProxy) -> Any:
        return self._wrap(getattr(self._target, name))

    return property(get, doc=template.__doc__)


def derive_async_api(cls: type[AsyncProxy], api: type[Any]) -> None:
    """Give ``cls`` every public attribute of ``api`` it does not define itself."""
    cls.api = api
    own = _defined(cls)
    for name, static in _public(api):
        if name not in own:
            derived = (
                _async_property(name, static)
                if isinstance(static, property)
                else _async_method(name, cast("Callable[..., Any]", static))
            )
            setattr(cls, name, derived)


def _take(iterator: Iterator[Any], size: int) -> list[Any]:
    return list(itertools.islice(iterator, size))


class AsyncIteratorProxy(AsyncProxy):
    """A cursor or change stream: ``async for``, ``await next()``, ``async with``.

    ``async for`` over a cursor fetches up to ``stream_batch_size`` documents per thread
    hop; over a change stream it waits for each change in hops of at most the stream's
    ``max_await_time_ms`` (so cancelling it takes at most that long).
    """

    def __init__(self, service: MongoService, target: Any, resource: str | None) -> None:
        super().__init__(service, target, resource)
        self._buffer: collections.deque[Any] = collections.deque()

    def __aiter__(self) -> AsyncIteratorProxy:
        return self

    async def __anext__(self) -> Any:
        if self._buffer:
            return self._buffer.popleft()
        run = self._service._run  # noqa: SLF001 -- the service's driver boundary
        if hasattr(self._target, "try_next"):  # a change stream: wait in bounded hops
            while self._target.alive:
                change = await run(self._target.try_next, "next", self._resource)
                if change is not None:
                    return change
            raise StopAsyncIteration
        size = self._service.config.stream_batch_size
        batch = await run(functools.partial(_take, self._target, size), "next", self._resource)
        if not batch:
            raise StopAsyncIteration
        self._buffer.extend(batch[1:])
        return batch[0]

    async def next(self) -> Any:
        """The next document (or change); ``StopAsyncIteration`` at the end."""
        return await self.__anext__()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with anyio.CancelScope(shield=True):
            await self._service._run(  # noqa: SLF001 -- the service's driver boundary
                self._target.close, "close", self._resource
            )

    def __getitem__(self, key: object) -> Any:
        if not isinstance(key, slice):  # an index fetches a document: that would block
            raise TypeError("index a cursor with a slice, or use skip() and limit()")
        return self._wrap(self._target[key])


_ASYNC_PROXIES: dict[type[Any], type[AsyncProxy]] = {}


def _async_proxy_class(api: type[Any]) -> type[AsyncProxy]:
    if api not in _ASYNC_PROXIES:
        _ASYNC_PROXIES[api] = _new_async_proxy_class(api)
    return _ASYNC_PROXIES[api]


def _new_async_proxy_class(api: type[Any]) -> type[AsyncProxy]:
    # A server-side cursor or stream has ``alive`` (a database's ``__anext__`` only refuses).
    base = AsyncIteratorProxy if hasattr(api, "alive") else AsyncProxy
    cls = cast("type[AsyncProxy]", type(f"{api.__name__}Proxy", (base,), {"__module__": __name__}))
    derive_async_api(cls, api)
    return cls


def wrap_driver(service: MongoService, value: object, resource: str | None) -> Any:
    """``value``, or its async proxy if it is a PyMongo object with an async twin."""
    twin = async_twin(type(value))
    if twin is None:
        return value
    if twin is AsyncCollection:
        return service._handle(cast("Collection[dict[str, Any]]", value))  # noqa: SLF001
    return _async_proxy_class(twin)(service, value, resource)


# -- the sync face -------------------------------------------------------------------------


def sync_wrap(portal: Portal, value: object) -> Any:
    """An async proxy's result as the sync face hands it out."""
    if has_face(value):  # a collection handle: its generated face
        return sync_face(portal, value)
    if isinstance(value, AsyncProxy):
        return _sync_proxy_class(type(value))(portal, value)
    return value


class SyncSide:
    """What derived sync methods need: the portal and the async object they drive."""

    _portal: Portal

    def _async_object(self) -> Any:
        raise NotImplementedError

    def _sync_call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self._async_object(), name)
        args = tuple(unwrap(a) for a in args)  # a sync collection face: its MongoCollection
        kwargs = {k: unwrap(v) for k, v in kwargs.items()}
        if inspect.iscoroutinefunction(method):
            return sync_wrap(self._portal, self._portal.call(method, *args, **kwargs))
        return sync_wrap(self._portal, method(*args, **kwargs))


def _sync_method(name: str, template: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: SyncSide, *args: Any, **kwargs: Any) -> Any:
        return self._sync_call(name, *args, **kwargs)

    method = functools.wraps(template)(method)
    del method.__wrapped__  # its signature is not a coroutine's: do not advertise one
    return method


def _sync_property(name: str, template: property) -> property:
    def get(self: SyncSide) -> Any:
        return sync_wrap(self._portal, getattr(self._async_object(), name))

    return property(get, doc=template.__doc__)


def derive_sync_api(cls: type[Any], api: type[Any]) -> None:
    """Give ``cls`` (a sync face) every public attribute of ``api`` it does not define."""
    own = _defined(cls)
    for name, static in _public(api):
        if name not in own:
            derived = (
                _sync_property(name, static)
                if isinstance(static, property)
                else _sync_method(name, cast("Callable[..., Any]", static))
            )
            setattr(cls, name, derived)


class SyncProxy(SyncSide):
    """The sync face of an async proxy: its coroutine methods run on the portal."""

    def __init__(self, portal: Portal, proxy: AsyncProxy) -> None:
        self._portal = portal
        self._proxy = proxy

    def _async_object(self) -> Any:
        return self._proxy

    def __repr__(self) -> str:
        return f"<sync face of {self._proxy!r}>"

    @property
    def driver_object(self) -> Any:
        """The PyMongo (sync) object behind this proxy: blocking, for your own threads."""
        return self._proxy.driver_object

    def __getattr__(self, name: str) -> Any:  # a sub-collection
        if name.startswith("_"):
            raise AttributeError(name)
        return sync_wrap(self._portal, getattr(self._proxy, name))

    def __getitem__(self, key: str) -> Any:
        return sync_wrap(self._portal, self._proxy[key])


class SyncIteratorProxy(SyncProxy):
    """The sync face of a cursor or change stream: ``for``, ``next()``, ``with``."""

    _proxy: AsyncIteratorProxy

    def __iter__(self) -> SyncIteratorProxy:
        return self

    def __next__(self) -> Any:
        try:
            return self._portal.call(self._proxy.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None

    def next(self) -> Any:
        """The next document (or change); ``StopIteration`` at the end."""
        return self.__next__()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._portal.call(self._proxy.__aexit__, None, None, None)


_SYNC_PROXIES: dict[type[AsyncProxy], type[SyncProxy]] = {}


def _sync_proxy_class(async_class: type[AsyncProxy]) -> type[SyncProxy]:
    if async_class not in _SYNC_PROXIES:
        _SYNC_PROXIES[async_class] = _new_sync_proxy_class(async_class)
    return _SYNC_PROXIES[async_class]


def _new_sync_proxy_class(async_class: type[AsyncProxy]) -> type[SyncProxy]:
    base = SyncIteratorProxy if issubclass(async_class, AsyncIteratorProxy) else SyncProxy
    name = f"Sync{async_class.__name__}"
    cls = cast("type[SyncProxy]", type(name, (base,), {"__module__": __name__}))
    derive_sync_api(cls, async_class.api)
    return cls
