"""Server-side Lua scripts: loaded once, called by SHA (EVALSHA, reloaded on NOSCRIPT)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Final

from ._errors import RedisResponseError

if TYPE_CHECKING:
    from ._client import RedisClient
    from ._protocol import Arg

__all__ = ("COMPARE_AND_DELETE", "FIXED_WINDOW", "SLIDING_WINDOW", "Script")


class Script:
    """A Lua script, run with EVALSHA; the server loads it on first use."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, client: RedisClient, keys: list[str], args: list[Arg]) -> Any:
        try:
            return await client.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except RedisResponseError as exc:
            if exc.code != "NOSCRIPT":
                raise
        loaded = await client.execute("SCRIPT", "LOAD", self.source)
        if loaded != self.sha:  # pragma: no cover - the server hashes as we do
            raise RedisResponseError(f"SCRIPT LOAD returned {loaded!r}, expected {self.sha}")
        return await client.execute("EVALSHA", self.sha, len(keys), *keys, *args)


# Fixed window: the counter and its expiry are set in one step, so no key lives
# without a TTL. Returns {allowed (0/1), remaining}.
FIXED_WINDOW: Final = Script("""
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local limit = tonumber(ARGV[1])
if count > limit then
  return {0, 0}
end
return {1, limit - count}
""")

# Sliding window over a sorted set of request timestamps (server time, microseconds).
# A denied request is not recorded; each member carries the caller's random token
# (ARGV[3]) so that two requests in the same microsecond both count. It touches only
# KEYS[1], so it runs on a cluster too.
SLIDING_WINDOW: Final = Script("""
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local window = tonumber(ARGV[2]) * 1000
local limit = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  return {0, 0}
end
redis.call('ZADD', KEYS[1], now, now .. '-' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, limit - count - 1}
""")

# Release a lock only if we still hold it (the token matches).
COMPARE_AND_DELETE: Final = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
""")
