"""A distributed lock: SET NX PX with a random token, extended and released by its holder.

Deadlines decide whether we *try again*, never interrupt a try: a SET NX that was sent
completes (shielded; the transport bounds it with ``socket_timeout``), since giving up
in the middle would leave a lock we may hold without knowing it. A try that took the
lock for a caller who was cancelled meanwhile gives the lock back (token-checked).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, TypeVar

import anyio
import anyio.lowlevel

from .._core._service import shielded
from ._errors import RedisLockError
from ._scripts import COMPARE_AND_DELETE, Script

if TYPE_CHECKING:
    from ._client import RedisClient

__all__ = ("Lock", "retry_until")

T = TypeVar("T")

_FIRST_DELAY = 0.005
_MAX_DELAY = 0.1

_EXTEND: Final = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
""")


async def retry_until(
    timeout: float | None,  # noqa: ASYNC109 -- decides whether to try again, never cuts a try
    attempt: Callable[[], Awaitable[T | None]],
) -> T | None:
    """``await attempt()`` until it returns something, for up to ``timeout`` seconds.

    Backs off from 5 ms to 100 ms between tries. The deadline is looked at between
    tries only: ``timeout=0`` is exactly one try, None tries forever, and a try that
    runs past the deadline still counts. None when every try came back empty.
    """
    deadline = math.inf if timeout is None else anyio.current_time() + timeout
    delay = _FIRST_DELAY
    while True:
        result = await attempt()
        if result is not None:
            return result
        remaining = deadline - anyio.current_time()
        if remaining <= 0:
            return None
        await anyio.sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_DELAY)


class Lock:
    """Yielded by ``RedisService.lock()``; released when the block ends."""

    def __init__(self, client: RedisClient, key: str, timeout: float) -> None:
        self._client = client
        self._key = key
        self._timeout = timeout
        self._token = secrets.token_hex(16)

    @property
    def key(self) -> str:
        """The Redis key holding the lock (namespaced)."""
        return self._key

    async def acquire(self, blocking_timeout: float | None = None) -> None:
        """Take the lock, trying for up to ``blocking_timeout`` seconds (0: once, None:
        until it is free); RedisLockError if it stayed taken."""
        if await retry_until(blocking_timeout, self._try_acquire) is None:
            raise RedisLockError(
                f"could not acquire the lock within {blocking_timeout} s",
                service="redis",
                resource=self._key,
            )

    async def try_acquire(self) -> bool:
        """One SET NX round trip: True if we hold the lock now."""
        return await self._try_acquire() is not None

    async def _try_acquire(self) -> bool | None:
        ms = max(1, round(self._timeout * 1000))
        # Once sent, we must learn the outcome: cancellation waits for the reply.
        reply = await shielded(self._client.execute)("SET", self._key, self._token, "PX", ms, "NX")
        if reply is None:
            return None
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except anyio.get_cancelled_exc_class():
            await self.release(missing_ok=True)  # the caller gave up while we took it
            raise
        return True

    async def owned(self) -> bool:
        """True while this holder still has the lock."""
        return bool(await self._client.execute("GET", self._key) == self._token)

    async def extend(self, additional: float) -> None:
        """Give the lock ``additional`` seconds from now; RedisLockError if it was lost."""
        ms = max(1, round(additional * 1000))
        if not await _EXTEND(self._client, [self._key], [self._token, ms]):
            raise RedisLockError(
                "the lock expired before extend()", service="redis", resource=self._key
            )

    async def release(self, *, missing_ok: bool = False) -> None:
        """Release the lock if we still hold it; RedisLockError if it expired meanwhile
        (unless ``missing_ok``). Never deletes a lock someone else holds now. Runs to
        the end even when the caller is cancelled."""
        released = await shielded(COMPARE_AND_DELETE)(self._client, [self._key], [self._token])
        if not released and not missing_ok:
            raise RedisLockError(
                "the lock expired before it was released", service="redis", resource=self._key
            )
