"""Redis Cluster: one :class:`RedisClient` per node behind the RedisClient interface.

The slot map comes from ``CLUSTER SHARDS`` (``CLUSTER SLOTS`` on older servers), asked of
several nodes and taken from the view most of them agree on. One refresher task (in the
task group :meth:`ClusterClient.open` is given) refreshes it, at most once at a time and
at most every ``_MIN_GAP`` s, when woken by MOVED, a lost connection, CLUSTERDOWN or
READONLY, and every ``_PERIOD`` s (with jitter) otherwise. A MOVED reply patches its slot
at once. ASK is answered by ``ASKING`` and the command, back to back on one connection.

Retries spend a time budget (``cluster_retry_timeout``), never an attempt count, and never
duplicate a write: only commands that were never sent (the connection could not be
made) and reads are sent again. A write whose connection broke after it was sent raises
:class:`RedisConnectionLostError` (``maybe_executed`` is True).
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncGenerator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc
import hiredis

from ._client import PoolStatistics, RedisClient
from ._connection import Connection
from ._errors import (
    RedisConnectError,
    RedisConnectionLostError,
    RedisCrossSlotError,
    RedisError,
    RedisRedirectError,
    RedisResponseError,
)
from ._slots import (
    KeySpec,
    Route,
    SlotTable,
    command_name,
    info_spec,
    key_slot,
    parse_address,
    parse_shards,
    parse_slots,
    route,
)

if TYPE_CHECKING:
    from ._config import RedisConfig
    from ._protocol import Arg

__all__ = ("ClusterClient", "client_for")

_MIN_GAP: Final = 1.0  # s between refreshes; doubles (to _MAX_GAP) while wakes keep coming
_MAX_GAP: Final = 8.0
_PERIOD: Final = 30.0  # s between periodic refreshes (+-20 %)
_QUERY_TIMEOUT: Final = 2.0  # s for one node's CLUSTER SHARDS
_QUERIED: Final = 3  # nodes asked per refresh
_FREE_HOPS: Final = 2  # redirects followed at once; after them, each waits (a loop)
_FIRST_DELAY: Final = 0.02
_MAX_DELAY: Final = 0.5
_RETRY_LATER: Final = frozenset({"TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "READONLY"})
_REFRESH_ON: Final = frozenset({"CLUSTERDOWN", "READONLY", "MASTERDOWN"})
_PUBSUB: Final = 0  # classic pub/sub lives on the node of slot 0


def client_for(config: RedisConfig, *, logger: logging.Logger) -> RedisClient:
    """The client ``config.mode`` asks for: standalone, cluster or sentinel."""
    if config.mode == "cluster":
        return ClusterClient(config, logger=logger)
    if config.mode == "sentinel":
        from ._sentinel import SentinelClient  # noqa: PLC0415 -- only sentinel mode needs it

        return SentinelClient(config, logger=logger)
    return RedisClient(config, logger=logger)


class ClusterClient(RedisClient):
    """Routes each command to the node serving its keys' slot (see the module docstring)."""

    def __init__(self, config: RedisConfig, *, logger: logging.Logger) -> None:
        super().__init__(config, logger=logger)
        self._nodes: dict[str, RedisClient] = {}
        self._node_lock = anyio.Lock()
        self._table = SlotTable()
        self._wanted = anyio.Event()
        self._refreshes = 0
        self._redirects = 0
        self._infos: dict[str, KeySpec | None] = {}
        self._encoding = config.encoding

    # -- lifecycle -----------------------------------------------------------------

    async def open(self, task_group: anyio.abc.TaskGroup) -> None:
        """Read the slot map from the seeds now (a bad address fails here), then keep it."""
        self._task_group = self._group = task_group  # the nodes' readers run there too
        if not await self._refresh():
            raise RedisConnectError(
                f"no node of {self._config.describe()} answered CLUSTER SHARDS",
                service="redis",
                operation="connect",
            )
        task_group.start_soon(self._refresher)

    async def aclose(self) -> None:
        nodes, self._nodes = list(self._nodes.values()), {}
        for node in nodes:
            await node.aclose()

    def statistics(self) -> PoolStatistics:
        """The nodes' counters added up (``node_statistics`` has them one by one)."""
        stats = self.node_statistics().values()
        return PoolStatistics(
            connections=sum(s.connections for s in stats),
            pending_replies=sum(s.pending_replies for s in stats),
            commands_sent=sum(s.commands_sent for s in stats),
            batches_sent=sum(s.batches_sent for s in stats),
            reconnects=sum(s.reconnects for s in stats),
        )

    def node_statistics(self) -> dict[str, PoolStatistics]:
        """``{"host:port": PoolStatistics}`` for every node connected so far."""
        return {address: node.statistics() for address, node in sorted(self._nodes.items())}

    @property
    def redirects(self) -> int:
        """How many MOVED and ASK replies were followed."""
        return self._redirects

    @property
    def refreshes(self) -> int:
        """How many times the slot map was read."""
        return self._refreshes

    # -- the slot map --------------------------------------------------------------

    def wake_refresher(self) -> None:
        self._wanted.set()

    async def _refresher(self) -> None:
        gap = _MIN_GAP
        while True:
            with anyio.move_on_after(_PERIOD * random.uniform(0.8, 1.2)):  # noqa: S311 -- jitter
                await self._wanted.wait()
            self._wanted = anyio.Event()
            await self._refresh()
            await anyio.sleep(gap)
            # Woken again meanwhile: the trouble goes on, so wait longer before the next
            # refresh (MOVED replies patch the table in between); quiet: back to the start.
            gap = min(gap * 2, _MAX_GAP) if self._wanted.is_set() else _MIN_GAP

    async def _refresh(self) -> bool:
        """Ask up to ``_QUERIED`` nodes for the map; adopt the view most agree on.

        Returns True when the table changed.
        """
        candidates = [node.address for node in self._table.primaries()]
        candidates += [a for a in self._config.cluster_nodes if a not in candidates]
        views: list[SlotTable] = []

        async def ask(address: str) -> None:
            with anyio.move_on_after(_QUERY_TIMEOUT):
                try:
                    views.append(await self._query(address))
                except RedisError as exc:
                    self._logger.info("CLUSTER SHARDS on %s failed: %s", address, exc)

        async with anyio.create_task_group() as group:
            for address in candidates[:_QUERIED]:
                group.start_soon(ask, address)
        if not views and len(candidates) > _QUERIED:  # the first ones are down: try the rest
            async with anyio.create_task_group() as group:
                for address in candidates[_QUERIED:]:
                    group.start_soon(ask, address)
        views = [view for view in views if view]
        if not views:
            return False
        self._refreshes += 1
        votes: dict[Any, list[SlotTable]] = {}
        for view in views:
            votes.setdefault(view.signature(), []).append(view)
        best = max(votes.values(), key=lambda same: (len(same), same[0].covered()))[0]
        if best.signature() == self._table.signature():
            return False
        self._table = best
        return True

    async def _query(self, address: str) -> SlotTable:
        node = await self._node(address)
        host = parse_address(address, "cluster_nodes")[0]
        try:
            reply = await node.execute("CLUSTER", "SHARDS")
        except RedisResponseError as exc:
            if "unknown subcommand" not in exc.message.lower():
                raise
            return SlotTable(parse_slots(await node.execute("CLUSTER", "SLOTS"), host))
        return SlotTable(parse_shards(reply, host))

    async def _node(self, address: str) -> RedisClient:
        """The client of ``address``, connected on first use."""
        node = self._nodes.get(address)
        if node is not None:
            return node
        async with self._node_lock:
            node = self._nodes.get(address)
            if node is None:
                host, port = parse_address(address, "cluster_nodes")
                config = self._config.model_copy(update={"mode": "standalone", "url": None,
                                                         "host": host, "port": port})  # fmt: skip
                node = self._new_node(config)
                await node.open(self._group)
                self._nodes[address] = node
            return node

    def _new_node(self, config: RedisConfig) -> RedisClient:
        return RedisClient(config, logger=self._logger)

    def _address(self, slot: int | None, readonly: bool) -> str:
        shard = self._table.shard_for(slot) if slot is not None else None
        if shard is None:
            primaries = self._table.primaries()
            if slot is not None or not primaries:
                self.wake_refresher()
                raise _Unserved(slot)
            return random.choice(primaries).address  # noqa: S311 -- load spreading
        if readonly and self._config.read_from_replicas and shard.replicas:
            return random.choice((shard.primary, *shard.replicas)).address  # noqa: S311
        return shard.primary.address

    # -- running commands ------------------------------------------------------------

    async def execute(self, *args: Arg, decode: bool | None = None) -> Any:
        """Run one command on the node serving its keys (multi-key ones split by slot)."""
        found = await self._route(args)
        if found.kind == "keys":
            if found.split is not None:
                return await self._split(args, found, decode)
            return await self._run(
                args, self._slot_of(found.keys, args), readonly=found.readonly, decode=decode
            )
        if found.kind == "any":
            return await self._run(args, None, readonly=found.readonly, decode=decode)
        if found.kind == "pubsub":
            return await self._run(args, _PUBSUB, readonly=False, decode=decode)
        if found.kind == "scan":
            return await self._scan(args, decode)
        if found.kind == "primaries":
            return await self._broadcast(args, decode)
        name = command_name(args)
        raise RedisError(
            f"{name} is not available on a Redis Cluster"
            + (" (RediSearch indexes live on one server)" if name.startswith("FT.") else ""),
            service="redis",
            operation=name,
        )

    async def _route(self, args: Sequence[Arg]) -> Route:
        name = command_name(args)
        found = route(args, name)
        if found is not None:
            return found
        if name not in self._infos:  # not in our table: ask the server, once per command
            info = await self._run(("COMMAND", "INFO", name), None, readonly=True, decode=None)
            self._infos[name] = info_spec(info[0]) if info and info[0] else None
        spec = self._infos[name]
        if spec is None:
            raise RedisError(f"unknown command {name}", service="redis", operation=name)
        keys = spec.keys(args)
        if spec.movable:
            try:
                command = ("COMMAND", "GETKEYS", *args)
                keys = tuple(await self._run(command, None, readonly=True, decode=None))
            except RedisResponseError:  # "the command has no key arguments"
                keys = ()
        return Route("keys", keys, spec.readonly) if keys else Route("any", (), spec.readonly)

    def _slot_of(self, keys: Sequence[Any], args: Sequence[Arg]) -> int | None:
        if not keys:
            return None
        slots = {key_slot(key, self._encoding) for key in keys}
        if len(slots) > 1:
            name = command_name(args)
            raise RedisCrossSlotError(
                f"the keys of {name} hash to {len(slots)} different slots; "
                "give them one hash tag ({tag}) to use them together",
                service="redis",
                operation=name,
            )
        return slots.pop()

    async def _run(
        self, args: Sequence[Arg], slot: int | None, *, readonly: bool, decode: bool | None
    ) -> Any:
        """Send ``args`` to the slot's node, following redirects within the time budget."""
        deadline = anyio.current_time() + self._config.cluster_retry_timeout
        delay = _FIRST_DELAY
        hops = 0
        via: str | None = None  # where to send it instead of the slot's node
        asking = False
        while True:
            address = via
            try:
                address = via or self._address(slot, readonly)
                return await self._send_once(args, address, decode, asking=asking)
            except RedisResponseError as exc:
                via, asking = None, False
                if exc.code in {"MOVED", "ASK"}:
                    hops += 1
                    target = self._redirect(exc)
                    if exc.code == "ASK":
                        via, asking = target, True
                    if hops > _FREE_HOPS:  # nodes disagree for a moment: wait, then follow
                        delay = await self._pause(deadline, delay, args, exc, hops)
                    continue
                delay = await self._pause(deadline, delay, args, self._retryable(exc, args))
            except _Unserved as exc:
                delay = await self._pause(deadline, delay, args, exc.error())
            except RedisConnectError as exc:
                self.wake_refresher()
                if exc.operation != "connect" and not readonly:
                    raise _lost(exc, args) from None
                # Its node is unreachable: ask another primary next. It serves the slot
                # now (a replica took over) or answers MOVED, which patches the table
                # sooner than a refresh would.
                via, asking = self._elsewhere(address), False
                delay = await self._pause(deadline, delay, args, exc)

    def _elsewhere(self, address: str | None) -> str | None:
        others = [n.address for n in self._table.primaries() if n.address != address]
        return random.choice(others) if others else None  # noqa: S311 -- load spreading

    async def _send_once(
        self, args: Sequence[Arg], address: str, decode: bool | None, *, asking: bool
    ) -> Any:
        node = await self._node(address)
        if not asking:
            return await node.execute(*args, decode=decode)
        reply = (await node.execute_many([("ASKING",), args], decode=decode))[1]
        if isinstance(reply, RedisError):
            raise reply
        return reply

    def _retryable(self, exc: RedisResponseError, args: Sequence[Arg]) -> RedisError:
        """``exc`` when the command may be sent again later (it was refused); else raise."""
        if exc.code == "CROSSSLOT":
            raise RedisCrossSlotError(
                exc.message, service="redis", operation=command_name(args)
            ) from None
        if exc.code not in _RETRY_LATER:
            raise exc
        if exc.code in _REFRESH_ON:
            self.wake_refresher()
        return exc

    def _redirect(self, exc: RedisResponseError) -> str:
        """``MOVED 3999 127.0.0.1:6381``: patch the table (MOVED), return the address."""
        self._redirects += 1
        words = exc.message.split()
        address = words[2]
        if exc.code == "MOVED":
            host, port = parse_address(address, "MOVED")
            self._table.move(int(words[1]), host, port)
            self.wake_refresher()
        return address

    async def _pause(
        self,
        deadline: float,
        delay: float,
        args: Sequence[Arg],
        error: RedisError,
        hops: int = 0,
    ) -> float:
        """Sleep before a retry, or raise when the budget is spent; the next delay."""
        left = deadline - anyio.current_time()
        if left <= 0:
            redirected = f" after {hops} redirects" if hops else ""
            raise RedisRedirectError(
                f"{command_name(args)} could not be served within "
                f"{self._config.cluster_retry_timeout} s{redirected}: {error.message}",
                service="redis",
                operation=command_name(args),
            ) from None
        await anyio.sleep(min(delay, left))
        return min(delay * 2, _MAX_DELAY)

    async def _split(self, args: Sequence[Arg], found: Route, decode: bool | None) -> Any:
        """DEL/EXISTS/UNLINK/TOUCH (counts added up) and MGET (values in order), by slot."""
        groups: dict[int, list[int]] = {}
        for index, key in enumerate(found.keys):
            groups.setdefault(key_slot(key, self._encoding), []).append(index)
        if len(groups) == 1:
            return await self._run(args, next(iter(groups)), readonly=found.readonly, decode=decode)
        head = args[:1]
        results: dict[int, Any] = {}
        errors: list[RedisError] = []

        async def one(slot: int, indexes: list[int]) -> None:
            try:
                part = (*head, *(found.keys[i] for i in indexes))
                results[slot] = await self._run(part, slot, readonly=found.readonly, decode=decode)
            except RedisError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as group:
            for slot, indexes in groups.items():
                group.start_soon(one, slot, indexes)
        if errors:
            raise errors[0]
        if found.split == "sum":
            return sum(int(value) for value in results.values())
        values: list[Any] = [None] * len(found.keys)
        for slot, indexes in groups.items():
            for index, value in zip(indexes, results[slot], strict=True):
                values[index] = value
        return values

    async def _broadcast(self, args: Sequence[Arg], decode: bool | None) -> Any:
        """SCRIPT LOAD, FLUSHDB...: on every primary; KEYS joins their lists, DBSIZE adds
        them up, the others return the first primary's reply."""
        replies: list[Any] = []
        for primary in self._table.primaries():
            node = await self._node(primary.address)
            replies.append(await node.execute(*args, decode=decode))
        name = command_name(args)
        if name == "KEYS":
            return [key for reply in replies for key in reply]
        if name == "DBSIZE":
            return sum(replies)
        return replies[0] if replies else None

    async def _scan(self, args: Sequence[Arg], decode: bool | None) -> Any:
        """SCAN over every primary in turn: the cursor is ``<primary index>:<its cursor>``."""
        raw = args[1] if len(args) > 1 else "0"
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        index_text, _, cursor = text.partition(":") if ":" in text else ("0", "", text)
        index = int(index_text)
        primaries = self._table.primaries()
        while index < len(primaries):
            node = await self._node(primaries[index].address)
            next_cursor, keys = await node.execute("SCAN", cursor, *args[2:], decode=decode)
            done = next_cursor in {"0", b"0", 0}
            if done:
                index, cursor = index + 1, "0"
            else:
                cursor = next_cursor.decode() if isinstance(next_cursor, bytes) else next_cursor
            if keys or not done:
                more = index < len(primaries)
                return [f"{index}:{cursor}" if more else "0", keys]
        return ["0", []]

    # -- pipelines and transactions --------------------------------------------------

    async def execute_many(
        self, commands: Sequence[Sequence[Arg]], *, decode: bool | None = None
    ) -> list[Any]:
        """Run commands; error replies come back as values.

        A MULTI ... EXEC batch needs one slot (RedisCrossSlotError otherwise, before
        sending). Other batches are grouped by node; only redirected commands are resent.
        """
        if commands and command_name(commands[0]) == "MULTI":
            return await self._transaction(commands, decode)
        results: list[Any] = [None] * len(commands)
        groups: dict[str, list[int]] = {}
        for index, args in enumerate(commands):
            try:
                found = await self._route(args)
                if found.kind == "keys" and found.split is None:
                    slot = self._slot_of(found.keys, args)
                    groups.setdefault(self._address(slot, found.readonly), []).append(index)
                    continue
            except (RedisError, _Unserved):
                pass
            # A command that is not one node's (split, broadcast, refused...) runs alone,
            # after the commands queued before it: the batch keeps its order.
            await self._send_groups(groups, commands, results, decode)
            groups = {}
            results[index] = await self._value_of(args, decode)
        await self._send_groups(groups, commands, results, decode)
        return results

    async def _send_groups(
        self,
        groups: dict[str, list[int]],
        commands: Sequence[Sequence[Arg]],
        results: list[Any],
        decode: bool | None,
    ) -> None:
        async with anyio.create_task_group() as group:
            for address, indexes in groups.items():
                group.start_soon(self._send_group, address, commands, indexes, results, decode)

    async def _send_group(
        self,
        address: str,
        commands: Sequence[Sequence[Arg]],
        indexes: list[int],
        results: list[Any],
        decode: bool | None,
    ) -> None:
        again: list[int] = []
        try:
            node = await self._node(address)
            replies = await node.execute_many([commands[i] for i in indexes], decode=decode)
        except RedisConnectError as exc:
            self.wake_refresher()
            for index in indexes:
                found = route(commands[index])
                if exc.operation == "connect" or (found is not None and found.readonly):
                    again.append(index)
                else:
                    results[index] = _lost(exc, commands[index])
        else:
            for index, reply in zip(indexes, replies, strict=True):
                if isinstance(reply, RedisResponseError) and (
                    reply.code in {"MOVED", "ASK"} or reply.code in _RETRY_LATER
                ):
                    if reply.code == "MOVED":
                        self._redirect(reply)
                    again.append(index)  # refused by this node, so never applied
                else:
                    results[index] = reply
        for index in again:  # resent one by one, in order, with the redirect logic
            results[index] = await self._value_of(commands[index], decode)

    async def _value_of(self, args: Sequence[Arg], decode: bool | None) -> Any:
        try:
            return await self.execute(*args, decode=decode)
        except RedisError as exc:
            return exc

    async def _transaction(
        self, commands: Sequence[Sequence[Arg]], decode: bool | None
    ) -> list[Any]:
        keys: list[Any] = []
        readonly = True
        for args in commands[1:-1]:
            found = await self._route(args)
            if found.kind not in {"keys", "any"}:
                raise RedisCrossSlotError(
                    f"{command_name(args)} cannot run inside a transaction on a cluster",
                    service="redis",
                    operation="MULTI",
                )
            keys += found.keys
            readonly = readonly and found.readonly
        slot = self._slot_of(keys, ("MULTI",))
        deadline = anyio.current_time() + self._config.cluster_retry_timeout
        delay = _FIRST_DELAY
        while True:
            try:
                node = await self._node(self._address(slot, readonly=False))
                replies = await node.execute_many(commands, decode=decode)
            except _Unserved as exc:
                delay = await self._pause(deadline, delay, ("MULTI",), exc.error())
                continue
            except RedisConnectError as exc:
                self.wake_refresher()
                if exc.operation != "connect":
                    raise _lost(exc, ("EXEC",)) from None
                delay = await self._pause(deadline, delay, ("MULTI",), exc)
                continue
            refused = [
                r for r in replies[1:-1]
                if isinstance(r, RedisResponseError) and r.code in {"MOVED", "ASK", *_RETRY_LATER}
            ]  # fmt: skip
            if not refused:  # EXECABORT follows a refused command: nothing ran, so resend
                return replies
            if refused[0].code == "MOVED":
                self._redirect(refused[0])
            delay = await self._pause(deadline, delay, ("MULTI",), refused[0])

    # -- connections of their own ------------------------------------------------------

    async def shard_node(self, slot: int) -> tuple[str, RedisClient]:
        """The address and client of the primary serving ``slot`` (sharded pub/sub);
        RedisRedirectError while no node serves it."""
        try:
            address = self._address(slot, readonly=False)
        except _Unserved as exc:
            raise exc.error() from None
        return address, await self._node(address)

    def moved(self, reply: object) -> int | None:
        """The slot of a ``MOVED`` error reply (after patching the map), else None."""
        if not isinstance(reply, hiredis.ReplyError) or not str(reply).startswith("MOVED "):
            return None
        self._redirect(RedisResponseError(str(reply), service="redis"))
        return int(str(reply).split()[1])

    @asynccontextmanager
    async def dedicated(self, *, push: bool = False) -> AsyncGenerator[Connection, None]:
        """WATCH: a connection bound to the node of the first keyed command; pub/sub
        (``push``): a connection to any primary (classic channels reach every node)."""
        if push:
            node = await self._node(self._address(_PUBSUB, readonly=False))
            async with node.dedicated(push=True) as connection:
                yield connection
            return
        async with AsyncExitStack() as stack:
            yield _SlotConnection(self, stack)


def _lost(exc: RedisConnectError, args: Sequence[Arg]) -> RedisConnectionLostError:
    name = command_name(args)
    return RedisConnectionLostError(
        f"{exc.message}; {name} was sent and may have run (it is not sent again)",
        service="redis",
        operation=name,
    )


class _Unserved(Exception):  # noqa: N818 -- internal signal, never leaves this module
    """No node serves this slot right now (the map is being refreshed)."""

    def __init__(self, slot: int | None) -> None:
        super().__init__(slot)
        self.slot = slot

    def error(self) -> RedisError:
        return RedisRedirectError(f"no node serves slot {self.slot}", service="redis")


class _SlotConnection(Connection):
    """A dedicated connection that opens on the node of its first keyed command and then
    refuses commands of other slots (WATCH and MULTI/EXEC need one slot)."""

    def __init__(self, cluster: ClusterClient, stack: AsyncExitStack) -> None:
        # Not Connection.__init__: this only forwards to the node's real connection.
        self._cluster = cluster
        self._stack = stack
        self._slot: int | None = None
        self._bound: Connection | None = None

    @property
    def broken(self) -> bool:
        return self._bound is not None and self._bound.broken

    @property
    def pending(self) -> int:
        return 0 if self._bound is None else self._bound.pending

    async def _target(self, commands: Sequence[Sequence[Arg]]) -> Connection:
        keys: list[Any] = []
        for args in commands:
            keys += spec_keys_of(args)
        slot = self._cluster._slot_of(keys, commands[0]) if keys else None  # noqa: SLF001
        if self._bound is not None:
            if slot is not None and slot != self._slot:
                raise RedisCrossSlotError(
                    f"{command_name(commands[0])} names a key of slot {slot}; this "
                    f"connection is bound to slot {self._slot} (use one hash tag)",
                    service="redis",
                    operation=command_name(commands[0]),
                )
            return self._bound
        address = self._cluster._address(slot, readonly=False)  # noqa: SLF001
        node = await self._cluster._node(address)  # noqa: SLF001
        self._bound = await self._stack.enter_async_context(node.dedicated())
        self._slot = slot
        return self._bound

    async def execute(self, args: Sequence[Arg], decode: bool | None = None) -> Any:
        reply = await (await self._target([args])).execute(args, decode)
        self._noticed([reply])
        return reply

    async def execute_many(
        self, commands: Sequence[Sequence[Arg]], decode: bool | None = None
    ) -> list[Any]:
        replies: list[Any] = await (await self._target(commands)).execute_many(commands, decode)
        self._noticed(replies)
        return replies

    def _noticed(self, replies: list[Any]) -> None:
        """A MOVED reply still patches the map (the caller gets the error)."""
        for reply in replies:
            self._cluster.moved(reply)

    async def aclose(self) -> None:
        if self._bound is not None:
            await self._bound.aclose()


def spec_keys_of(args: Sequence[Arg]) -> tuple[Any, ...]:
    found = route(args)
    return found.keys if found is not None else ()
