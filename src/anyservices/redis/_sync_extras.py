"""The sync-face methods the generator cannot derive, as thin adapters (no logic).

``cache`` decorates plain functions (the cached function runs on the portal, and the
plain function in the caller's thread, through ``call_user``); ``subscribe_models``
hands out a plain iterator of models of the caller's class (generic over it);
``get_or_compute`` has one signature here where the async face has two overloads
(async or plain ``compute``), which would be the same once made sync.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from pydantic import BaseModel

from ._cache import CachedFunction, CacheSettings, SyncCachedFunction

if TYPE_CHECKING:
    from .._core._portal import Portal
    from ._pubsub import ModelStream
    from ._service import RedisService

__all__ = ("SyncRedisExtras",)

M = TypeVar("M", bound=BaseModel)
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
            cached: CachedFunction[P, R] = CachedFunction(self._wrapped, func, settings)
            return SyncCachedFunction(self._portal, cached)

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

        A plain ``compute`` runs in the caller's thread (see ``RedisService.get_or_compute``).
        """
        return self._portal.call(
            self._wrapped.get_or_compute,
            key,
            compute,
            ex,
            serialize_json,
            lock_timeout=lock_timeout,
            wait_timeout=wait_timeout,
        )

    def subscribe_models(
        self, channel: str, model_class: type[M], *, skip_invalid: bool = False
    ) -> AbstractContextManager[Iterator[M]]:
        """Iterate ``channel``'s messages as validated models (see ``RedisService``)."""
        stream = self._wrapped.subscribe_models(channel, model_class, skip_invalid=skip_invalid)
        return self._portal.wrap_cm(stream, _iterate)


def _iterate(portal: Portal, stream: ModelStream[M]) -> Iterator[M]:
    return portal.wrap_iter(stream)
