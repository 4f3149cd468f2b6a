"""A distributed lock: SET NX PX with a random token, extended and released by its holder."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Final

import anyio

from ._errors import RedisError
from ._scripts import COMPARE_AND_DELETE, Script

if TYPE_CHECKING:
    from ._client import RedisClient

__all__ = ("Lock", "LockError")

_EXTEND: Final = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
""")


class LockError(RedisError):
    """The lock could not be acquired in time, or was lost (it expired) before release."""


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

    async def acquire(self, blocking_timeout: float | None) -> None:
        delay = 0.005
        with anyio.move_on_after(blocking_timeout) as scope:
            while True:
                ms = max(1, round(self._timeout * 1000))
                if await self._client.execute("SET", self._key, self._token, "PX", ms, "NX"):
                    return
                await anyio.sleep(delay)
                delay = min(delay * 2, 0.1)
        if scope.cancelled_caught:
            raise LockError(
                f"could not acquire the lock within {blocking_timeout} s",
                service="redis",
                resource=self._key,
            )

    async def owned(self) -> bool:
        """True while this holder still has the lock."""
        return bool(await self._client.execute("GET", self._key) == self._token)

    async def extend(self, additional: float) -> None:
        """Give the lock ``additional`` seconds from now; LockError if it was lost."""
        ms = max(1, round(additional * 1000))
        if not await _EXTEND(self._client, [self._key], [self._token, ms]):
            raise LockError("the lock expired before extend()", service="redis", resource=self._key)

    async def release(self, *, missing_ok: bool = False) -> None:
        """Release the lock if we still hold it; LockError if it expired meanwhile
        (unless ``missing_ok``). Never deletes a lock someone else holds now."""
        released = await COMPARE_AND_DELETE(self._client, [self._key], [self._token])
        if not released and not missing_ok:
            raise LockError(
                "the lock expired before it was released", service="redis", resource=self._key
            )
