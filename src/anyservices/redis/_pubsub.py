"""Pub/sub: a subscription on a connection of its own that resubscribes after a reconnect."""

from __future__ import annotations

import math
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
from pydantic import BaseModel

from .._core._models import load_model
from ._errors import RedisConnectError, RedisDataError

if TYPE_CHECKING:
    from ._client import RedisClient
    from ._connection import Connection
    from ._keys import Keys

__all__ = ("Message", "ModelStream", "Subscription")

M = TypeVar("M", bound=BaseModel)

_FIRST_DELAY = 0.05
_MAX_DELAY = 2.0
_MESSAGE_FRAME = 3  # ["message", channel, data]
_PMESSAGE_FRAME = 4  # ["pmessage", pattern, channel, data]
_CONFIRMATIONS = frozenset({"subscribe", "unsubscribe", "psubscribe", "punsubscribe"})


@dataclass(frozen=True)
class Message:
    """One pub/sub frame: its channel (without namespace), data, and matching pattern.

    ``kind`` is ``"message"`` (or ``"pmessage"`` when a pattern matched, ``"smessage"``
    on a sharded channel: ``RedisService.ssubscribe``); only
    ``get_message(ignore_subscribe_messages=False)`` also hands out the server's
    confirmations (``"subscribe"``, ``"unsubscribe"``, ``"psubscribe"``...), whose
    ``data`` is the number of subscriptions left, as text. ``data`` is bytes when the
    payload is not valid text in the config's encoding (or ``decode_responses`` is off).
    """

    channel: str
    data: str | bytes
    pattern: str | None = None
    kind: str = "message"


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

    async def _connect(self) -> Connection:
        """Connect and subscribe (on entry, and on the first read after a break)."""
        holder = self._client.dedicated(push=True)
        connection = await holder.__aenter__()
        self._holder, self._connection = holder, connection
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
        message = await self._next(math.inf, ignore_confirmations=True)
        assert message is not None  # noqa: S101 -- no deadline: it waits for a message
        return message

    async def get_message(
        self,
        ignore_subscribe_messages: bool = False,
        timeout: float | None = 0.0,  # noqa: ASYNC109 -- redis-py's get_message, as migrating code calls it
    ) -> Message | None:
        """The next message, or None when none arrives within ``timeout`` seconds.

        As redis-py's ``PubSub.get_message``: ``timeout=0`` only looks at what has
        arrived, ``None`` waits as long as it takes; subscribe confirmations are
        handed out too unless ``ignore_subscribe_messages``.
        """
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must not be negative")
        deadline = math.inf if timeout is None else anyio.current_time() + timeout
        return await self._next(deadline, ignore_confirmations=ignore_subscribe_messages)

    async def _next(self, deadline: float, *, ignore_confirmations: bool) -> Message | None:
        with anyio.CancelScope(deadline=deadline):
            while True:
                message = self._message(await self._frame(), ignore_confirmations)
                if message is not None:
                    return message
        return None

    async def _frame(self) -> Any:
        """The next frame from the server, reconnecting (with a bounded backoff) as needed."""
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
                try:
                    return connection.pushes.receive_nowait()  # no checkpoint: timeout=0 works
                except anyio.WouldBlock:
                    return await connection.pushes.receive()
            except anyio.EndOfStream:
                self._reconnects += 1

    def _message(self, reply: Any, ignore_confirmations: bool) -> Message | None:
        if not isinstance(reply, list) or not reply:
            return None
        frame: list[Any] = reply  # pyright: ignore[reportUnknownVariableType]
        kind = _text(frame[0])
        if kind == "message" and len(frame) == _MESSAGE_FRAME:
            return Message(self._name(frame[1]), frame[2])
        if kind == "pmessage" and len(frame) == _PMESSAGE_FRAME:
            return Message(self._name(frame[2]), frame[3], self._name(frame[1]), kind)
        if ignore_confirmations or kind not in _CONFIRMATIONS or len(frame) != _MESSAGE_FRAME:
            return None
        name = self._name(frame[1])
        if kind.startswith("p"):
            return Message("", _text(frame[2]), name, kind)
        return Message(name, _text(frame[2]), None, kind)

    def _name(self, value: Any) -> str:
        """A channel or pattern without the namespace (bytes with decoding off; None: all)."""
        return "" if value is None else self._keys.strip(_text(value))


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class ModelStream(Generic[M]):
    """An async iterator of validated models (yielded by ``RedisService.subscribe_models``)."""

    def __init__(
        self, subscription: Subscription, model_class: type[M], *, skip_invalid: bool
    ) -> None:
        self._subscription = subscription
        self._model_class = model_class
        self._skip_invalid = skip_invalid
        self._skipped = 0

    @property
    def skipped(self) -> int:
        """How many invalid messages ``skip_invalid`` has dropped so far."""
        return self._skipped

    def __aiter__(self) -> ModelStream[M]:
        return self

    async def __anext__(self) -> M:
        while True:
            message = await self._subscription.__anext__()
            try:
                return load_model(
                    self._model_class, message.data, error=RedisDataError, resource=message.channel
                )
            except RedisDataError:
                if not self._skip_invalid:
                    raise
                self._skipped += 1
