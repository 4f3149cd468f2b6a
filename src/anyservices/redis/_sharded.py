"""Sharded pub/sub (SSUBSCRIBE): each channel on the node that serves its slot.

On a cluster a sharded channel lives in one shard, the one serving its slot (as a key
would), and SPUBLISH reaches only that shard's subscribers. A ShardedSubscription keeps
one connection per node it needs. Two kinds of small tasks run for it in the service's
task group: one per connection hands its frames to one inbox that the reader drains,
and a keeper subscribes every channel that has no connection: at the start, when its
slot moves (the node's ``sunsubscribe`` push, or ``MOVED`` in answer to an SSUBSCRIBE)
and when its node's connection ends (a failover, a restart), on the node the slot map
names then, with a bounded backoff while none answers. Reading never does that work,
so ``get_message(timeout=0)`` never cancels it. On a single server (or through
Sentinel, which ends the connection on ``+switch-master``) one connection holds every
channel. Messages published while a channel had no subscription are lost, as with any
Redis pub/sub.
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc
import hiredis

from ._cluster import ClusterClient
from ._errors import (
    RedisConnectError,
    RedisError,
    RedisRedirectError,
    RedisTimeoutError,
    response_error,
)
from ._pubsub import Message, Subscription
from ._slots import key_slot

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from ._client import RedisClient
    from ._connection import Connection
    from ._keys import Keys

__all__ = ("ShardedSubscription",)

_FIRST_DELAY: Final = 0.05
_MAX_DELAY: Final = 2.0
_FRAME: Final = 3  # ["smessage" | "ssubscribe" | "sunsubscribe", channel, data or count]
_CONFIRMATIONS: Final = frozenset({"ssubscribe", "sunsubscribe"})
_LATER: Final = frozenset({"ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN"})
_AWAY: Final = (RedisConnectError, RedisTimeoutError, RedisRedirectError)  # retried later


class _Link:
    """One node's push connection and the context manager that holds it."""

    __slots__ = ("address", "closed", "connection", "holder", "scope")

    def __init__(
        self,
        address: str,
        holder: AbstractAsyncContextManager[Connection],
        connection: Connection,
    ) -> None:
        self.address = address
        self.holder = holder
        self.connection = connection
        self.scope = anyio.CancelScope()  # its forwarding task's
        self.closed = False


class _Raised:
    """An error for the reader (a node refused SSUBSCRIBE for good)."""

    __slots__ = ("error",)

    def __init__(self, error: RedisError) -> None:
        self.error = error


class ShardedSubscription(Subscription):
    """A :class:`Subscription` to sharded channels (yielded by ``RedisService.ssubscribe``).

    ``subscribe`` and ``unsubscribe`` send SSUBSCRIBE and SUNSUBSCRIBE; messages have
    ``kind="smessage"`` (confirmations ``"ssubscribe"`` and ``"sunsubscribe"``);
    sharded pub/sub has no patterns. ``reconnects`` counts every resubscription.
    """

    def __init__(self, client: RedisClient, keys: Keys, *, encoding: str = "utf-8") -> None:
        super().__init__(client, keys)
        self._cluster = client if isinstance(client, ClusterClient) else None
        self._encoding = encoding
        self._links: dict[str, _Link] = {}
        self._bound: dict[str, _Link] = {}  # channel -> the link its SSUBSCRIBE went to
        self._send, self._inbox = anyio.create_memory_object_stream[Any](math.inf)
        self._wake = anyio.Event()
        self._keeper = anyio.CancelScope()

    async def open(self, *channels: str) -> None:
        """Subscribe to ``channels`` now (an unreachable server raises here), then keep them."""
        self._channels.update(channels)
        await self._settle(strict=True)
        self._group().start_soon(self._keep)

    async def aclose(self) -> None:
        """Nothing: the subscription lives until its ``ssubscribe`` block ends (a loop
        left early calls this on the sync face; no message is lost in between)."""

    async def finish(self) -> None:
        """Close everything, for good (at the end of ``ssubscribe``'s block)."""
        self._keeper.cancel()
        links, self._links = list(self._links.values()), {}
        self._bound.clear()
        for link in links:
            await _close(link)
        self._send.close()
        self._inbox.close()

    async def subscribe(self, *channels: str) -> None:
        """Also receive messages published (SPUBLISH) to ``channels``."""
        self._channels.update(channels)
        self._wake.set()

    async def psubscribe(self, *patterns: str) -> None:
        """Sharded pub/sub has no patterns: raises RedisError."""
        raise RedisError(
            f"sharded pub/sub has no patterns ({', '.join(patterns)}): use subscribe(patterns=)",
            service="redis",
            operation="SSUBSCRIBE",
        )

    async def unsubscribe(self, *channels: str) -> None:
        self._channels.difference_update(channels)
        by_link: dict[str, tuple[_Link, list[str]]] = {}
        for name in channels:
            link = self._bound.pop(name, None)
            if link is not None:
                by_link.setdefault(link.address, (link, []))[1].append(name)
        for link, names in by_link.values():
            self._send_to(link, "SUNSUBSCRIBE", names)

    # -- binding channels to nodes (the keeper) ------------------------------------------

    def _group(self) -> anyio.abc.TaskGroup:
        group = self._client._task_group  # noqa: SLF001 -- the service's, where readers run
        assert group is not None  # noqa: S101 -- the client is open: it has one
        return group

    def _slot(self, name: str) -> int:
        return 0 if self._cluster is None else key_slot(self._keys(name), self._encoding)

    async def _keep(self) -> None:
        """Subscribe what lost its subscription, whenever woken (a task of its own)."""
        delay = _FIRST_DELAY
        with self._keeper:
            while True:
                await self._wake.wait()
                self._wake = anyio.Event()
                try:
                    done = await self._settle()
                except RedisError as exc:  # refused for good (ACL...): the reader raises it
                    with contextlib.suppress(anyio.ClosedResourceError):
                        self._send.send_nowait(_Raised(exc))
                    continue
                if done:
                    delay = _FIRST_DELAY
                    continue
                with anyio.move_on_after(delay):  # no node answered: again later, or when woken
                    await self._wake.wait()
                delay = min(delay * 2, _MAX_DELAY)
                self._wake.set()

    async def _settle(self, *, strict: bool = False) -> bool:
        """Subscribe every channel that has no connection; False if a node was away."""
        by_slot: dict[int, list[str]] = {}
        for name in sorted(self._channels):
            if name not in self._bound:
                by_slot.setdefault(self._slot(name), []).append(name)
        done = True
        for slot, wanted in by_slot.items():
            try:
                link = await self._link(slot)
            except _AWAY:
                if strict:
                    raise
                done = False
                continue
            names = [n for n in wanted if n in self._channels and n not in self._bound]
            self._send_to(link, "SSUBSCRIBE", names)  # (unsubscribed while we connected)
            for name in names:
                self._bound[name] = link
        return done

    async def _link(self, slot: int) -> _Link:
        """The connection to the node serving ``slot``, opened (with its task) if needed."""
        if self._cluster is None:
            address, node = "", self._client
        else:
            address, node = await self._cluster.shard_node(slot)
        link = self._links.get(address)  # (a broken one: its task forgets it soon)
        if link is None:
            holder = node.dedicated(push=True)
            connection = await holder.__aenter__()
            link = self._links[address] = _Link(address, holder, connection)
            self._group().start_soon(self._forward, link)
        return link

    def _send_to(self, link: _Link, command: str, names: list[str]) -> None:
        """SSUBSCRIBE or SUNSUBSCRIBE ``names``, one command per slot (a cluster wants it)."""
        by_slot: dict[int, list[str]] = {}
        for name in names:
            by_slot.setdefault(self._slot(name), []).append(name)
        # Broken: its end is on its way through its task, and the channels are subscribed
        # again then.
        with contextlib.suppress(RedisConnectError):
            for group in by_slot.values():
                link.connection.send_only(command, *self._keys.many(group))

    def _unbind(self, link: _Link, slot: int | None = None) -> None:
        """Forget the subscriptions ``link`` held (of ``slot`` only, when given) and wake
        the keeper to subscribe them again."""
        for name, bound in list(self._bound.items()):
            if bound is link and (slot is None or self._slot(name) == slot):
                del self._bound[name]
        self._reconnects += 1
        if self._cluster is not None:
            self._cluster.wake_refresher()
        self._wake.set()

    def _forget(self, link: _Link) -> None:
        del self._links[link.address]  # (a new link for its node comes only after this)
        self._unbind(link)

    # -- each connection's task ----------------------------------------------------------

    async def _forward(self, link: _Link) -> None:
        """Hand one connection's frames to the inbox; slot moves and its end are noted."""
        pushes = link.connection.pushes
        assert pushes is not None  # noqa: S101 -- a push connection has them
        with link.scope:
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                async for frame in pushes:  # the inbox closed: the subscription is done
                    if isinstance(frame, hiredis.ReplyError):
                        self._refused(link, frame)
                    elif not self._dropped(link, frame):
                        self._send.send_nowait(frame)
            if not link.closed:  # the connection ended (not by us)
                self._forget(link)
                await _close(link)

    def _refused(self, link: _Link, reply: hiredis.ReplyError) -> None:
        """An error in answer to SSUBSCRIBE: MOVED (subscribe there), a cluster in
        transition (again, after the keeper's backoff), or a refusal for the reader."""
        slot = None if self._cluster is None else self._cluster.moved(reply)
        if slot is not None:
            self._unbind(link, slot)
        elif str(reply).split(" ", 1)[0] in _LATER:
            self._unbind(link)
        else:
            self._send.send_nowait(_Raised(response_error(str(reply), "SSUBSCRIBE")))

    def _dropped(self, link: _Link, frame: Any) -> bool:
        """True for a ``sunsubscribe`` nobody asked for: the node gave the slot away."""
        parts: list[Any] = frame if isinstance(frame, list) else []  # pyright: ignore[reportUnknownVariableType]
        if len(parts) != _FRAME or _text(parts[0]) != "sunsubscribe":
            return False
        name = self._name(parts[1])
        if name not in self._channels:
            return False  # the confirmation of our own SUNSUBSCRIBE
        if self._bound.get(name) is link:  # else already subscribed again (its slot moved)
            self._unbind(link, self._slot(name))
        return True

    # -- reading -------------------------------------------------------------------------

    async def _frame(self) -> Any:
        try:
            item = self._inbox.receive_nowait()  # no checkpoint: get_message(timeout=0) works
        except anyio.WouldBlock:
            item = await self._inbox.receive()
        if isinstance(item, _Raised):
            raise item.error
        return item

    def _message(self, reply: Any, ignore_confirmations: bool) -> Message | None:
        frame: list[Any] = reply if isinstance(reply, list) else []  # pyright: ignore[reportUnknownVariableType]
        if len(frame) != _FRAME:
            return None
        kind = _text(frame[0])
        if kind == "smessage":
            name = self._name(frame[1])  # not after unsubscribe(), though sent before it
            return Message(name, frame[2], None, kind) if name in self._channels else None
        if ignore_confirmations or kind not in _CONFIRMATIONS:
            return None
        return Message(self._name(frame[1]), _text(frame[2]), None, kind)


async def _close(link: _Link) -> None:
    link.closed = True
    link.scope.cancel()
    pushes = link.connection.pushes
    assert pushes is not None  # noqa: S101 -- a push connection has them
    pushes.close()
    with anyio.CancelScope(shield=True):
        await link.holder.__aexit__(None, None, None)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
