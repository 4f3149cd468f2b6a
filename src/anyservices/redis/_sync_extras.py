"""What the generator cannot derive: on the sync face, ``cache`` decorates plain functions
and ``get_or_compute`` runs a plain ``compute`` in the caller's thread."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ._cache import CacheSettings, SyncCachedFunction
from ._service import _dumps, _loads

if TYPE_CHECKING:
    from .._core._portal import Portal
    from ._service import RedisService

__all__ = ("SyncRedisExtras",)

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class SyncRedisExtras:
    """Mixed into the generated ``SyncRedisService``."""

    _portal: Portal
    _wrapped: RedisService

    def cache(
        self,
        ttl: int,
        key_prefix: str | None = None,
        namespace: str | None = None,
        skip_cache_if: Callable[[Any], bool] | None = None,
        prevent_thundering_herd: bool = False,
    ) -> Callable[[Callable[P, R]], SyncCachedFunction[P, R]]:
        """Cache a plain function's results in Redis (see ``RedisService.cache``)."""
        settings = CacheSettings(ttl, key_prefix, namespace, skip_cache_if, prevent_thundering_herd)

        def decorate(func: Callable[P, R]) -> SyncCachedFunction[P, R]:
            return SyncCachedFunction(self._portal, self._wrapped, func, settings)

        return decorate

    def get_or_compute(
        self,
        key: str,
        compute: Callable[[], T],
        ex: int | None = None,
        serialize_json: bool = True,
        *,
        lock_timeout: float = 30.0,
        wait_timeout: float = 30.0,
    ) -> T:
        """The cached value at ``key``, or ``compute()``'s, computed once across callers.

        A plain ``compute`` runs in the caller's thread (thread-locals such as a Django
        database connection work); the lock, the wait and the store are the async
        service's (see ``RedisService.get_or_compute``). An async function passed
        here anyway runs on the portal's event loop.
        """
        service, call = self._wrapped, self._portal.call
        if inspect.iscoroutinefunction(compute):
            return call(  # type: ignore[return-value]
                service.get_or_compute,
                key,
                compute,
                ex,
                serialize_json,
                lock_timeout=lock_timeout,
                wait_timeout=wait_timeout,
            )
        found, cached, token = call(
            service._value_or_lock,  # noqa: SLF001 -- the shared single-flight building blocks
            key,
            lock_timeout,
            wait_timeout,
        )
        if found:
            return _loads(cached, key) if serialize_json else cached  # type: ignore[no-any-return]
        try:
            value: Any = compute()
            call(service.set, key, _dumps(value, key) if serialize_json else value, ex=ex)
        finally:
            call(service._release_flight, key, token)  # noqa: SLF001
        return value  # type: ignore[no-any-return]
