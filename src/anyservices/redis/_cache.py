"""The cache decorator: keys, the cached function, and its thin sync face.

:class:`CachedFunction` is the one implementation (single-flight included, through
:class:`SingleFlight`); the sync face's :class:`SyncCachedFunction` only runs its calls
on the portal, where ``call_user`` runs a plain function in the caller's own thread.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast

from .._core._caller import call_user
from ._errors import RedisDataError

if TYPE_CHECKING:
    from .._core._portal import Portal
    from ._protocol import Arg
    from ._service import RedisService

__all__ = ("CacheSettings", "CachedFunction", "SyncCachedFunction")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class CacheSettings:
    ttl: int
    key_prefix: str | None
    namespace: str | None
    skip_cache_if: Callable[[Any], bool] | None
    prevent_thundering_herd: bool

    def prefix_for(self, func: Callable[..., Any]) -> str:
        name = self.key_prefix or f"{func.__module__}.{func.__qualname__}"
        return f"cache:{self.namespace}:{name}" if self.namespace else f"cache:{name}"

    def key_for(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> str:
        """A key that is the same in every process for the same arguments."""
        try:
            canonical = json.dumps([args, kwargs], sort_keys=True, default=repr)
        except (TypeError, ValueError) as exc:
            raise RedisDataError(
                f"cannot build a cache key from the arguments: {exc}", service="redis"
            ) from None
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
        return f"{self.prefix_for(func)}:{digest}"

    def encode(self, value: Any, key: str) -> str | None:
        """The JSON to store, or None when ``skip_cache_if`` says not to store it."""
        if self.skip_cache_if is not None and self.skip_cache_if(value):
            return None
        try:
            return json.dumps({"v": value})  # wrapped, so that None results are cached too
        except (TypeError, ValueError) as exc:
            raise RedisDataError(
                f"cannot cache the result: {exc}", service="redis", resource=key
            ) from None

    @staticmethod
    def decode(raw: str | bytes) -> Any:
        return json.loads(raw)["v"]


class CachedFunction(Generic[P, R]):
    """A function whose results are cached in Redis (made by ``RedisService.cache``).

    Async on the async faces; the function itself may be async or plain.
    """

    def __init__(
        self,
        service: RedisService,
        func: Callable[P, Awaitable[R]] | Callable[P, R],
        settings: CacheSettings,
    ) -> None:
        self._service = service
        self._func = func
        self._settings = settings
        functools.update_wrapper(self, func)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        settings = self._settings
        key = settings.key_for(self._func, args, kwargs)

        async def produce() -> tuple[R, Arg | None]:
            value = cast("R", await call_user(self._func, *args, **kwargs))
            return value, settings.encode(value, key)

        flight = self._service._single_flight()  # noqa: SLF001 -- the service's own machinery
        result: R = await flight.get_or_compute(
            key,
            produce,
            settings.decode,
            ex=settings.ttl,
            exclusive=settings.prevent_thundering_herd,
        )
        return result

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Forget the cached result for these arguments; True if there was one."""
        return bool(await self._service.delete(self._settings.key_for(self._func, args, kwargs)))

    async def invalidate_all(self) -> int:
        """Forget every cached result of this function; returns how many."""
        pattern = f"{self._settings.prefix_for(self._func)}:*"
        return await self._service._delete_matching(pattern)  # noqa: SLF001


class SyncCachedFunction(Generic[P, R]):
    """The sync face of a :class:`CachedFunction` of a plain function.

    Each call runs the cached function on the portal; the plain function itself runs
    in the calling thread (thread-locals such as a Django database connection work).
    """

    def __init__(self, portal: Portal, cached: CachedFunction[P, R]) -> None:
        self._portal = portal
        self._cached = cached
        functools.update_wrapper(self, cached, updated=())

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._portal.call(self._cached, *args, **kwargs)

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Forget the cached result for these arguments; True if there was one."""
        return self._portal.call(self._cached.invalidate, *args, **kwargs)

    def invalidate_all(self) -> int:
        """Forget every cached result of this function; returns how many."""
        return self._portal.call(self._cached.invalidate_all)
