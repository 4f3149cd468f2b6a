"""Pub/sub: a subscription on a connection of its own that resubscribes after a reconnect."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from ._errors import RedisConnectError

if TYPE_CHECKING:
    from ._client import RedisClient
    from ._connection import Connection
    from ._keys import Keys

__all__ = ("Message", "Subscription")

_FIRST_DELAY = 0.05
_MAX_DELAY = 2.0
_MESSAGE_FRAME = 3  # ["message", channel, data]
_PMESSAGE_FRAME = 4  # ["pmessage", pattern, channel, data]


@dataclass(frozen=True)
class Message:
    """One published message: its channel (without namespace), data, and matching pattern."""

    channel: str
    data: str
    pattern: str | None = None


class Subscription:
    """An async iterator of :class:`Message` (yielded by ``RedisService.subscribe``).

    If the connection breaks (a server restart), the next read reconnects, with a
    bounded backoff, and subscribes again to every channel and pattern; messages
    published while no connection existed are lost, as with any Redis pub/sub.
    """

    def __init__(self, client: RedisClient, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._channels: set[str] = set()
        self._patterns: set[str] = set()
        self._connection: Connection | None = None
        self._holder: AbstractAsyncContextManager[Connection] | None = None
        self._reconnects = 0

    @property
    def reconnects(self) -> int:
        """How often the subscription had to reconnect and resubscribe."""
        return self._reconnects

    async def connect(self) -> None:
        """Connect and subscribe now (``RedisService.subscribe`` does this on entry)."""
        await self._connect()

    async def _connect(self) -> Connection:
        self._holder = self._client.dedicated(push=True)
        connection = await self._holder.__aenter__()
        self._connection = connection
        if self._channels:
            connection.send_only("SUBSCRIBE", *self._keys.many(sorted(self._channels)))
        if self._patterns:
            connection.send_only("PSUBSCRIBE", *self._keys.many(sorted(self._patterns)))
        return connection

    async def aclose(self) -> None:
        holder, self._holder, connection = self._holder, None, self._connection
        self._connection = None
        if connection is not None and connection.pushes is not None:
            connection.pushes.close()
        if holder is not None:
            with anyio.CancelScope(shield=True):
                await holder.__aexit__(None, None, None)

    async def subscribe(self, *channels: str) -> None:
        """Also receive messages published to ``channels``."""
        self._channels.update(channels)
        if self._connection is not None and channels:
            self._connection.send_only("SUBSCRIBE", *self._keys.many(channels))

    async def psubscribe(self, *patterns: str) -> None:
        """Also receive messages on channels matching ``patterns`` (glob style)."""
        self._patterns.update(patterns)
        if self._connection is not None and patterns:
            self._connection.send_only("PSUBSCRIBE", *self._keys.many(patterns))

    async def unsubscribe(self, *channels: str) -> None:
        self._channels.difference_update(channels)
        if self._connection is not None and channels:
            self._connection.send_only("UNSUBSCRIBE", *self._keys.many(channels))

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        delay = _FIRST_DELAY
        while True:
            connection = self._connection
            if connection is None or connection.broken:
                try:
                    await self.aclose()
                    connection = await self._connect()
                except RedisConnectError:
                    await anyio.sleep(delay)  # the server is away; try again, more slowly
                    delay = min(delay * 2, _MAX_DELAY)
                    continue
                delay = _FIRST_DELAY
            assert connection.pushes is not None  # noqa: S101 -- a push connection has them
            try:
                frame = await connection.pushes.receive()
            except anyio.EndOfStream:
                self._reconnects += 1
                continue
            message = self._message(frame)
            if message is not None:
                return message

    def _message(self, reply: Any) -> Message | None:
        if not isinstance(reply, list) or not reply:
            return None
        frame: list[Any] = reply  # pyright: ignore[reportUnknownVariableType]
        kind = frame[0].decode() if isinstance(frame[0], bytes) else frame[0]
        if kind == "message" and len(frame) == _MESSAGE_FRAME:
            return Message(self._keys.strip(frame[1]), frame[2])
        if kind == "pmessage" and len(frame) == _PMESSAGE_FRAME:
            return Message(self._keys.strip(frame[2]), frame[3], self._keys.strip(frame[1]))
        return None  # subscribe/unsubscribe confirmations
