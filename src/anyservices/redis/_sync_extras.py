"""What the generator cannot derive: ``cache`` on the sync face decorates plain functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ._cache import CacheSettings, SyncCachedFunction

if TYPE_CHECKING:
    from .._core._portal import Portal
    from ._service import RedisService

__all__ = ("SyncRedisExtras",)

P = ParamSpec("P")
R = TypeVar("R")


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
