"""Single-flight: a missing value is computed once across callers and processes.

One implementation for ``get_or_compute`` and the cache decorator, on every face: the
caller passes ``produce`` (which calls the user's function through ``call_user``, so on
the sync face a plain function runs in the caller's own thread).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import RedisTimeoutError
from ._lock import Lock, retry_until

if TYPE_CHECKING:
    from ._client import RedisClient
    from ._keys import Keys
    from ._protocol import Arg

__all__ = ("SingleFlight",)

T = TypeVar("T")


class SingleFlight:
    """Cache-aside on Redis, optionally with one computing caller at a time.

    While one caller computes it holds ``flight:<key>`` (a :class:`Lock` with a random
    token, expiring after ``lock_timeout`` in case it dies); the others look for its
    value for up to ``wait_timeout`` seconds and take the lock over once it expires.
    """

    def __init__(self, client: RedisClient, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    async def get_or_compute(
        self,
        key: str,
        produce: Callable[[], Awaitable[tuple[T, Arg | None]]],
        decode: Callable[[Any], T],
        *,
        ex: int | None,
        exclusive: bool,
        lock_timeout: float = 30.0,
        wait_timeout: float = 30.0,
    ) -> T:
        """The value at ``key`` (``decode``d), or the one ``produce()`` returns.

        ``produce`` returns the value and what to store (None: store nothing), which
        is kept ``ex`` seconds. ``exclusive``: computed by one caller at a time.
        """
        full_key = self._keys(key)
        cached = await self._client.execute("GET", full_key)
        if cached is not None:  # the hit path: no lock, token or timer
            return decode(cached)
        if not exclusive:
            return await self._compute(full_key, produce, ex)
        lock = Lock(self._client, self._keys(f"flight:{key}"), lock_timeout)
        found = await retry_until(wait_timeout, lambda: self._value_or_lock(full_key, lock))
        if found is None:
            raise RedisTimeoutError(
                f"another caller was still computing the value after {wait_timeout} s",
                service="redis",
                operation="get_or_compute",
                resource=key,
            )
        (cached,) = found
        if cached is not None:
            return decode(cached)
        try:  # we hold the lock (no await since it was taken)
            return await self._compute(full_key, produce, ex)
        finally:
            await lock.release(missing_ok=True)

    async def _value_or_lock(self, full_key: str, lock: Lock) -> tuple[Any] | None:
        """``(value,)`` once the key has one, ``(None,)`` once we hold the lock, else None."""
        cached = await self._client.execute("GET", full_key)
        if cached is not None:
            return (cached,)
        if not await lock.try_acquire():
            return None
        try:
            # The holder may have stored the value and released the lock between our
            # GET and SET: look again before computing.
            cached = await self._client.execute("GET", full_key)
        except BaseException:
            await lock.release(missing_ok=True)
            raise
        if cached is not None:
            await lock.release(missing_ok=True)
        return (cached,)

    async def _compute(
        self,
        full_key: str,
        produce: Callable[[], Awaitable[tuple[T, Arg | None]]],
        ex: int | None,
    ) -> T:
        value, stored = await produce()
        if stored is not None:
            expiry: tuple[Arg, ...] = () if ex is None else ("EX", ex)
            await self._client.execute("SET", full_key, stored, *expiry)
        return value
