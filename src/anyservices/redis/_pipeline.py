"""Pipelines: many commands in one round trip, optionally as a MULTI/EXEC transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import hiredis

from ._commands import Command, Commands
from ._errors import RedisWatchError, response_error

if TYPE_CHECKING:
    from ._client import RedisClient
    from ._connection import Connection
    from ._protocol import Arg

__all__ = ("Pipeline",)


class Pipeline:
    """Queues commands (each method returns the pipeline) until :meth:`execute`.

    Yielded by ``RedisService.pipeline()``. With ``transaction=True`` the commands run
    inside MULTI/EXEC. For optimistic locking, ``await pipe.watch(*keys)`` first: the
    pipeline then uses a connection of its own, ``await pipe.fetch(key)`` reads a
    value on it, and ``execute()`` raises ``RedisWatchError`` when a watched key
    changed in the meantime.
    """

    def __init__(self, client: RedisClient, commands: Commands, transaction: bool) -> None:
        self._client = client
        self._commands = commands
        self._transaction = transaction
        self._queued: list[Command[Any]] = []
        self._watching: Connection | None = None
        self._release: Any = None

    def __len__(self) -> int:
        return len(self._queued)

    def _queue(self, command: Command[Any]) -> Pipeline:
        self._queued.append(command)
        return self

    # -- optimistic transactions ---------------------------------------------------

    async def watch(self, *keys: str) -> None:
        """WATCH ``keys`` on a connection of this pipeline's own."""
        connection = self._watching
        if connection is None:
            self._release = self._client.dedicated()
            connection = self._watching = await self._release.__aenter__()
        await self._checked(connection, ("WATCH", *self._commands.k.many(keys)))

    async def fetch(self, key: str) -> str | None:
        """GET ``key`` now, on the watching connection (between watch() and execute())."""
        if self._watching is None:
            raise RuntimeError("fetch() reads on the watching connection: call watch() first")
        return await self._checked(self._watching, self._commands.get(key).args)  # type: ignore[no-any-return]

    async def _checked(self, connection: Connection, args: tuple[Arg, ...]) -> Any:
        reply = await connection.execute(args)
        if isinstance(reply, hiredis.ReplyError):
            raise response_error(str(reply), str(args[0]))
        return reply

    async def reset(self) -> None:
        """Drop the queued commands and any WATCH (the pipeline's block does this on exit)."""
        self._queued.clear()
        release, self._release, self._watching = self._release, None, None
        if release is not None:
            await release.__aexit__(None, None, None)

    # -- running -------------------------------------------------------------------

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Run the queued commands; their replies in order.

        A command's error reply raises (the first one) unless ``raise_on_error`` is
        False, in which case it stands in the list as the exception.
        """
        queued, self._queued = self._queued, []
        if not queued:
            return []
        try:
            replies = await self._send([command.args for command in queued])
        finally:
            if self._watching is not None:
                await self.reset()
        results: list[Any] = []
        for command, reply in zip(queued, replies, strict=True):
            if isinstance(reply, hiredis.ReplyError):
                error = response_error(str(reply), str(command.args[0]))
                if raise_on_error:
                    raise error
                results.append(error)
            elif isinstance(reply, Exception):
                if raise_on_error:
                    raise reply
                results.append(reply)
            else:
                results.append(command.parse(reply))
        return results

    async def _send(self, commands: list[tuple[Arg, ...]]) -> list[Any]:
        if not self._transaction:
            if self._watching is not None:
                return await self._watching.execute_many(commands)
            return await self._client.execute_many(commands)
        wrapped: list[tuple[Arg, ...]] = [("MULTI",), *commands, ("EXEC",)]
        if self._watching is not None:
            replies = await self._watching.execute_many(wrapped)
        else:
            replies = await self._client.execute_many(wrapped)
        for reply in replies[:-1]:  # MULTI and the QUEUED acknowledgements
            if isinstance(reply, Exception):
                raise reply
            if isinstance(reply, hiredis.ReplyError):
                raise response_error(str(reply), "MULTI")
        executed = replies[-1]
        if executed is None:
            raise RedisWatchError("a watched key changed: the transaction did not run")
        if isinstance(executed, hiredis.ReplyError):  # e.g. EXECABORT
            raise response_error(str(executed), "EXEC")
        if isinstance(executed, Exception):
            raise executed
        return list(executed)

    # -- commands (each queues and returns the pipeline) ----------------------------

    def execute_command(self, *args: Arg) -> Pipeline:
        return self._queue(Command(args, lambda reply: reply))

    def get(self, key: str) -> Pipeline:
        return self._queue(self._commands.get(key))

    def set(
        self,
        key: str,
        value: str | bytes | float,
        ex: int | None = None,
        px: int | None = None,
        nx: bool = False,
        xx: bool = False,
    ) -> Pipeline:
        return self._queue(self._commands.set(key, value, ex, px, nx, xx))

    def delete(self, *keys: str) -> Pipeline:
        return self._queue(self._commands.delete(keys))

    def exists(self, *keys: str) -> Pipeline:
        return self._queue(self._commands.exists(keys))

    def expire(self, key: str, seconds: int) -> Pipeline:
        return self._queue(self._commands.expire(key, seconds))

    def ttl(self, key: str) -> Pipeline:
        return self._queue(self._commands.ttl(key))

    def incr(self, key: str, amount: int = 1) -> Pipeline:
        return self._queue(self._commands.incr(key, amount))

    def decr(self, key: str, amount: int = 1) -> Pipeline:
        return self._queue(self._commands.decr(key, amount))

    def hget(self, name: str, key: str) -> Pipeline:
        return self._queue(self._commands.hget(name, key))

    def hset(self, name: str, key: str, value: str | bytes | float) -> Pipeline:
        return self._queue(self._commands.hset(name, key, value))

    def hgetall(self, name: str) -> Pipeline:
        return self._queue(self._commands.hgetall(name))

    def hdel(self, name: str, *keys: str) -> Pipeline:
        return self._queue(self._commands.hdel(name, keys))

    def lpush(self, name: str, *values: str | bytes | float) -> Pipeline:
        return self._queue(self._commands.push("L", name, values))

    def rpush(self, name: str, *values: str | bytes | float) -> Pipeline:
        return self._queue(self._commands.push("R", name, values))

    def lpop(self, name: str) -> Pipeline:
        return self._queue(self._commands.pop("L", name))

    def rpop(self, name: str) -> Pipeline:
        return self._queue(self._commands.pop("R", name))

    def lrange(self, name: str, start: int, end: int) -> Pipeline:
        return self._queue(self._commands.lrange(name, start, end))

    def sadd(self, name: str, *values: str | bytes | float) -> Pipeline:
        return self._queue(self._commands.sadd(name, values))

    def smembers(self, name: str) -> Pipeline:
        return self._queue(self._commands.smembers(name))

    def srem(self, name: str, *values: str | bytes | float) -> Pipeline:
        return self._queue(self._commands.srem(name, values))

    def zadd(
        self, name: str, mapping: Mapping[str, float], nx: bool = False, xx: bool = False
    ) -> Pipeline:
        return self._queue(self._commands.zadd(name, mapping, nx, xx))

    def zrange(
        self, name: str, start: int, end: int, desc: bool = False, withscores: bool = False
    ) -> Pipeline:
        return self._queue(self._commands.zrange(name, start, end, desc, withscores))

    def zrem(self, name: str, *values: str) -> Pipeline:
        return self._queue(self._commands.zrem(name, values))

    def publish(self, channel: str, message: str | bytes) -> Pipeline:
        return self._queue(self._commands.publish(channel, message))
