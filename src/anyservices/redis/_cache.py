"""The cache decorator: keys, the async cached function, and its sync twin."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from ._errors import RedisDataError

if TYPE_CHECKING:
    from .._core._portal import Portal
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
            raise RedisDataError(f"cannot build a cache key from the arguments: {exc}") from None
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
        return f"{self.prefix_for(func)}:{digest}"

    def encode(self, value: Any, key: str) -> str | None:
        """The JSON to store, or None when ``skip_cache_if`` says not to store it."""
        if self.skip_cache_if is not None and self.skip_cache_if(value):
            return None
        try:
            return json.dumps({"v": value})  # wrapped, so that None results are cached too
        except (TypeError, ValueError) as exc:
            raise RedisDataError(f"cannot cache the result: {exc}", resource=key) from None

    @staticmethod
    def decode(raw: str | bytes) -> Any:
        return json.loads(raw)["v"]


class CachedFunction(Generic[P, R]):
    """An async function whose results are cached in Redis (made by ``RedisService.cache``)."""

    def __init__(
        self, service: RedisService, func: Callable[P, Awaitable[R]], settings: CacheSettings
    ) -> None:
        self._service = service
        self._func = func
        self._settings = settings
        functools.update_wrapper(self, func)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        settings, service = self._settings, self._service
        key = settings.key_for(self._func, args, kwargs)
        token = ""
        if settings.prevent_thundering_herd:
            found, raw, token = await service._value_or_lock(key, 30.0, 30.0)  # noqa: SLF001
        else:
            raw = await service.get(key)
            found = raw is not None
        if found:
            return settings.decode(raw)  # type: ignore[no-any-return]
        try:
            value = await self._func(*args, **kwargs)
            encoded = settings.encode(value, key)
            if encoded is not None:
                await service.set(key, encoded, ex=settings.ttl)
        finally:
            if token:
                await service._release_flight(key, token)  # noqa: SLF001
        return value

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Forget the cached result for these arguments; True if there was one."""
        return bool(await self._service.delete(self._settings.key_for(self._func, args, kwargs)))

    async def invalidate_all(self) -> int:
        """Forget every cached result of this function; returns how many."""
        pattern = f"{self._settings.prefix_for(self._func)}:*"
        return await self._service._delete_matching(pattern)  # noqa: SLF001


class SyncCachedFunction(Generic[P, R]):
    """The sync face's cached function: the plain function runs in the caller's thread."""

    def __init__(
        self, portal: Portal, service: RedisService, func: Callable[P, R], settings: CacheSettings
    ) -> None:
        self._portal = portal
        self._service = service
        self._func = func
        self._settings = settings
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        settings, service, call = self._settings, self._service, self._portal.call
        key = settings.key_for(self._func, args, kwargs)
        token = ""
        if settings.prevent_thundering_herd:
            found, raw, token = call(service._value_or_lock, key, 30.0, 30.0)  # noqa: SLF001
        else:
            raw = call(service.get, key)
            found = raw is not None
        if found:
            return settings.decode(raw)  # type: ignore[no-any-return]
        try:
            value = self._func(*args, **kwargs)
            encoded = settings.encode(value, key)
            if encoded is not None:
                call(service.set, key, encoded, ex=settings.ttl)
        finally:
            if token:
                call(service._release_flight, key, token)  # noqa: SLF001
        return value

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        key = self._settings.key_for(self._func, args, kwargs)
        return bool(self._portal.call(self._service.delete, key))

    def invalidate_all(self) -> int:
        pattern = f"{self._settings.prefix_for(self._func)}:*"
        return self._portal.call(self._service._delete_matching, pattern)  # noqa: SLF001
