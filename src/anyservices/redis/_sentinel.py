"""Redis Sentinel: the master found through the sentinels on every connect.

Each new connection asks the sentinels (``SENTINEL GET-MASTER-ADDR-BY-NAME``, a short
timeout each, dead ones skipped) where the master is, connects there and checks with
``ROLE`` that it is one: a remembered address is never used. A task subscribed to
``+switch-master`` on a sentinel drops every connection when the master changes, so the
next call (and every subscription) reconnects to the new one; READONLY and NOREPLICAS
replies do the same. Commands that were never sent (no master could be reached) and
writes the server refused are retried within ``cluster_retry_timeout``.

With ``sentinel_wait_replicas`` set, every write is followed on its connection by
``WAIT <replicas> <ms>``: writes (single ones, pipelines, transactions) that arrive
together go out back to back with one WAIT behind them all, one such batch at a time, and
a watched transaction gets one after its EXEC. A write the replicas did not confirm in time raises
``RedisUnconfirmedWriteError`` (``maybe_executed``: it ran on the master, and a failover
may lose it); reads never wait.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, cast

import anyio
import anyio.abc
import hiredis

from ._client import RedisClient, _check_shareable
from ._connection import Connection
from ._errors import (
    RedisConnectError,
    RedisConnectionLostError,
    RedisError,
    RedisResponseError,
    RedisUnconfirmedWriteError,
)
from ._protocol import encode_command
from ._slots import COMMANDS, command_name, parse_address, route

if TYPE_CHECKING:
    from ._config import RedisConfig
    from ._protocol import Arg

__all__ = ("SentinelClient",)

_ASK_TIMEOUT: Final = 0.5  # s for one sentinel's answer
_FIRST_DELAY: Final = 0.02
_MAX_DELAY: Final = 0.5
_RETIRE_WAIT: Final = 5.0  # s an old master's connection may finish its replies
_LOOK_AGAIN: Final = frozenset({"READONLY", "NOREPLICAS", "MASTERDOWN", "LOADING"})
# Commands that change no data (or only a connection's state): no WAIT after them.
_NO_WAIT: Final = frozenset(
    "WATCH UNWATCH MULTI DISCARD EXEC SELECT ASKING KEYS DBSIZE SPUBLISH WAIT WAITAOF "  # noqa: SIM905 -- a word list
    "FT.SEARCH FT.AGGREGATE FT.INFO FT._LIST FT.EXPLAIN FT.PROFILE".split()
)


class SentinelClient(RedisClient):
    """A RedisClient whose every connection goes to the master the sentinels name now."""

    def __init__(self, config: RedisConfig, *, logger: logging.Logger) -> None:
        super().__init__(config, logger=logger)
        self._master_name = config.sentinel_master or ""
        self._sentinels = [parse_address(a, "sentinels") for a in config.sentinels]
        self._subscribed: set[Connection] = set()
        self._switches = 0
        self._announced: tuple[str, int] | None = None  # the last +switch-master's master
        self.master: tuple[str, int] | None = None  # where the last connection went
        self.connected: list[tuple[float, tuple[str, int]]] = []  # (when, where) per connect
        self._wait: tuple[str, int, int] | None = None  # WAIT <replicas> <ms>, or None
        if config.sentinel_wait_replicas:
            ms = max(1, round(config.sentinel_wait_timeout * 1000))
            self._wait = ("WAIT", config.sentinel_wait_replicas, ms)
        self._gathering: dict[bool | None, _Writes] = {}  # by decode: writes not yet sent
        self._sending = False  # the task that sends them runs

    @property
    def switches(self) -> int:
        """How many ``+switch-master`` announcements for our master were followed."""
        return self._switches

    async def open(self, task_group: anyio.abc.TaskGroup) -> None:
        await super().open(task_group)
        task_group.start_soon(self._follow_switches)

    # -- finding the master ----------------------------------------------------------

    def _sentinel(self, host: str, port: int, timeout: float | None = _ASK_TIMEOUT) -> RedisClient:
        config = self._config.model_copy(
            update={"mode": "standalone", "url": None, "host": host, "port": port, "db": 0,
                    "username": None, "password": None, "client_name": None,
                    "socket_connect_timeout": _ASK_TIMEOUT, "socket_timeout": timeout,
                    "health_check_interval": None}
        )  # fmt: skip
        return self._new_client(config)

    def _new_client(self, config: RedisConfig) -> RedisClient:
        return RedisClient(config, logger=self._logger)

    async def locate(self) -> tuple[str, int]:
        """Ask the sentinels in turn where the master is; the first answer wins."""
        reasons: list[str] = []
        for index, (host, port) in enumerate(self._sentinels):
            try:
                with anyio.fail_after(_ASK_TIMEOUT * 2):
                    reply = await self._ask(
                        host, port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self._master_name
                    )
            except (RedisError, TimeoutError) as exc:
                reasons.append(f"{host}:{port}: {exc}")
                continue
            if not reply:
                reasons.append(f"{host}:{port} does not know {self._master_name!r}")
                continue
            found = (_text(reply[0]), int(reply[1]))
            if self._announced is not None and found != self._announced:
                # A sentinel that has not heard of the switch yet: the old master still
                # says "master" until it is demoted, and writes to it would be lost.
                reasons.append(f"{host}:{port} still names {found[0]}:{found[1]}")
                continue
            self._announced = None  # the sentinels agree again
            if index:  # ask the one that answered first next time
                self._sentinels.insert(0, self._sentinels.pop(index))
            return found
        raise RedisConnectError(
            f"no sentinel named a master for {self._master_name!r} ({'; '.join(reasons)})",
            service="redis",
            operation="connect",
        )

    async def _ask(self, host: str, port: int, *args: Arg) -> Any:
        """One command on a sentinel, on a connection of its own."""
        sentinel = self._sentinel(host, port)
        error: RedisError | None = None
        reply: Any = None
        async with anyio.create_task_group() as group:
            try:
                await sentinel.open(group)
                reply = await sentinel.execute(*args)
            except RedisError as exc:
                error = exc
            finally:
                await sentinel.aclose()
        if error is not None:
            raise error
        return reply

    async def _open_stream(self) -> anyio.abc.ByteStream:
        host, port = await self.locate()
        self.master = (host, port)
        self.connected.append((anyio.current_time(), self.master))
        target = self._config.model_copy(update={"mode": "standalone", "host": host, "port": port})
        return await self._new_client(target)._open_stream()  # noqa: SLF001

    async def _handshake(self, connection: Connection) -> None:
        await super()._handshake(connection)
        reply: Any = await connection.execute(("ROLE",))
        role = _first(reply)
        if role != "master":
            raise RedisConnectError(
                f"the server the sentinels named for {self._master_name!r} is a {role} now",
                service="redis",
                operation="connect",
            )

    async def _drop_connections(self) -> None:
        """Reconnect to the master: shared connections are replaced on the next call (the
        old ones close once their replies are in), subscriptions reconnect at once."""
        for index, connection in enumerate(self._connections):
            self._connections[index] = None
            if connection is not None and self._task_group is not None:
                self._task_group.start_soon(_retire, connection)
        for connection in list(self._subscribed):
            await connection.aclose()

    async def _follow_switches(self) -> None:
        """Listen for ``+switch-master`` on one sentinel after another, forever."""
        delay = _FIRST_DELAY
        while True:
            for host, port in list(self._sentinels):
                try:
                    await self._listen(host, port)
                except RedisError as exc:
                    self._logger.info("sentinel %s:%s: %s", host, port, exc)
                await anyio.sleep(delay)
                delay = min(delay * 2, _MAX_DELAY * 4)

    async def _listen(self, host: str, port: int) -> None:
        """Subscribe to ``+switch-master`` on one sentinel until its connection ends."""
        sentinel = self._sentinel(host, port, timeout=None)
        stream = await sentinel._open_stream()  # noqa: SLF001 -- a bare push connection
        connection = Connection(stream, encoding=self._config.encoding, push=True)
        pushes = connection.pushes
        assert pushes is not None  # noqa: S101 -- a push connection has them
        with pushes:
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(connection.run_reader)
                    group.start_soon(connection.run_writer)
                    connection.send_only("SUBSCRIBE", "+switch-master")
                    async for frame in pushes:
                        await self._on_push(frame)
                    group.cancel_scope.cancel()
            finally:
                await connection.aclose()

    async def _on_push(self, frame: Any) -> None:
        """``["message", "+switch-master", "<name> <old ip> <old port> <new ip> <new port>"]``."""
        parts = _parts(frame)
        if len(parts) != 3 or _text(parts[0]) != "message":  # noqa: PLR2004 -- a message frame
            return
        words = _text(parts[2]).split()
        if len(words) == 5 and words[0] == self._master_name:  # noqa: PLR2004 -- name old new
            self._switches += 1
            self._announced = (words[3], int(words[4]))
            self._logger.warning("sentinel: %s moved to %s", self._master_name, words[3:5])
            await self._drop_connections()

    # -- running commands --------------------------------------------------------------

    async def execute(self, *args: Arg, decode: bool | None = None) -> Any:
        deadline = anyio.current_time() + self._config.cluster_retry_timeout
        delay = _FIRST_DELAY
        confirmed = self._wait is not None and writes(args)
        while True:
            try:
                if confirmed:
                    [reply] = await self._gather([args], decode)
                    if isinstance(reply, RedisError):
                        raise reply
                    return reply
                return await super().execute(*args, decode=decode)
            except RedisConnectionLostError:  # ran, not confirmed by the replicas: never resent
                raise
            except RedisResponseError as exc:
                if exc.code not in _LOOK_AGAIN:
                    raise
                await self._drop_connections()  # refused, so not applied: send it again
                delay = await _pause(deadline, delay, exc)
            except RedisConnectError as exc:
                found = route(args)
                if exc.operation != "connect" and not (found is not None and found.readonly):
                    raise RedisConnectionLostError(
                        f"{exc.message}; {command_name(args)} was sent and may have run",
                        service="redis",
                        operation=command_name(args),
                    ) from None
                delay = await _pause(deadline, delay, exc)  # never sent, or a read

    async def execute_many(
        self, commands: Sequence[Sequence[Arg]], *, decode: bool | None = None
    ) -> list[Any]:
        deadline = anyio.current_time() + self._config.cluster_retry_timeout
        delay = _FIRST_DELAY
        confirmed = self._wait is not None and any(writes(args) for args in commands)
        while True:
            try:
                if confirmed:
                    replies = await self._gather(commands, decode)
                else:
                    replies = await super().execute_many(commands, decode=decode)
            except RedisConnectError as exc:
                if exc.operation != "connect":
                    raise
                delay = await _pause(deadline, delay, exc)
                continue
            if any(isinstance(r, RedisResponseError) and r.code in _LOOK_AGAIN for r in replies):
                await self._drop_connections()
            return replies

    async def _gather(self, commands: Sequence[Sequence[Arg]], decode: bool | None) -> list[Any]:
        """Commands with a write among them (one, or a pipeline's), sent back to back with
        the others that arrive before the next batch goes out, and one WAIT behind them
        all; their replies, with the writes WAIT did not confirm as errors."""
        for args in commands:  # a bad command fails alone, not the batch it would join
            _check_shareable(args)
            encode_command(args, self._config.encoding)
        batch = self._gathering.get(decode)
        if batch is None:
            batch = self._gathering[decode] = _Writes()
        if not self._sending:
            self._sending = True
            assert self._task_group is not None  # noqa: S101 -- open() set it; execute needs it
            self._task_group.start_soon(self._send_writes)
        entry = _Write(commands)
        batch.writes.append(entry)
        try:
            await batch.done.wait()
        except BaseException:  # cancelled: taken back if its batch has not gone out yet
            if self._gathering.get(decode) is batch:
                batch.writes.remove(entry)
            raise
        if entry.error is not None:
            raise entry.error
        return entry.replies

    async def _send_writes(self) -> None:
        """Send the gathered writes, one batch and its WAIT at a time, until none are left
        (a task in the client's task group). One at a time: a WAIT holds its connection
        until it ends, so a second batch sent meanwhile would only queue behind it, and
        when the replicas lag, each such batch would add a whole timeout for everyone."""
        try:
            while self._gathering:
                decode, batch = self._gathering.popitem()
                await self._send_batch(batch, decode)
        finally:
            self._sending = False
            for batch in self._gathering.values():  # the client closed meanwhile
                _settle(batch, _closed())
            self._gathering.clear()

    async def _send_batch(self, batch: _Writes, decode: bool | None) -> None:
        wait = self._wait
        assert wait is not None  # noqa: S101 -- only gathered when waiting
        commands = [args for entry in batch.writes for args in entry.commands]
        try:
            if commands:
                replies = await RedisClient.execute_many(self, [*commands, wait], decode=decode)
                results = confirm(commands, replies, wait)
                start = 0
                for entry in batch.writes:  # each caller's share, in the order they came
                    end = start + len(entry.commands)
                    entry.replies, start = results[start:end], end
        except RedisError as exc:
            _settle(batch, exc)
        finally:
            if commands and batch.writes[0].error is None and not batch.writes[0].replies:
                _settle(batch, _closed())  # the client closed meanwhile
            batch.done.set()

    @asynccontextmanager
    async def dedicated(self, *, push: bool = False) -> AsyncGenerator[Connection, None]:
        async with super().dedicated(push=push) as connection:
            if push:
                self._subscribed.add(connection)
            try:
                if self._wait is None or push:
                    yield connection
                else:  # a watched transaction: WAIT after its EXEC
                    yield cast("Connection", _Confirming(connection, self._wait))
            finally:
                self._subscribed.discard(connection)


# -- waiting for replicas (sentinel_wait_replicas) -------------------------------------


class _Write:
    """One caller's commands in a batch: their replies, or the error that ended it."""

    __slots__ = ("commands", "error", "replies")

    def __init__(self, commands: Sequence[Sequence[Arg]]) -> None:
        self.commands = commands
        self.replies: list[Any] = []
        self.error: RedisError | None = None


class _Writes:
    """Single writes gathered for one batch, and the event their callers wait on."""

    __slots__ = ("done", "writes")

    def __init__(self) -> None:
        self.writes: list[_Write] = []
        self.done = anyio.Event()


def _settle(batch: _Writes, error: RedisError) -> None:
    for entry in batch.writes:
        entry.error = error
    batch.done.set()


def _closed() -> RedisError:
    return RedisConnectError("the client closed with the write in flight", service="redis")


class _Confirming:
    """A dedicated connection (WATCH) whose writes are followed by WAIT."""

    def __init__(self, connection: Connection, wait: tuple[str, int, int]) -> None:
        self._connection = connection
        self._wait = wait

    async def execute(self, args: Sequence[Arg], decode: bool | None = None) -> Any:
        return (await self.execute_many([args], decode))[0]

    async def execute_many(
        self, commands: Sequence[Sequence[Arg]], decode: bool | None = None
    ) -> list[Any]:
        if not any(writes(args) for args in commands):
            return await self._connection.execute_many(commands, decode)
        replies = await self._connection.execute_many([*commands, self._wait], decode)
        return confirm(commands, replies, self._wait)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def writes(args: Sequence[Arg]) -> bool:
    """Whether ``args`` may change data (unknown commands are taken to)."""
    name = command_name(args)
    if name in _NO_WAIT:
        return False
    spec = COMMANDS.get(name)
    if spec is not None:
        return name == "XGROUP" or not spec.readonly
    found = route((name,), name)  # its kind only: no keys are parsed
    return found is None or found.kind not in {"any", "scan", "pubsub"}


def confirm(
    commands: Sequence[Sequence[Arg]], replies: list[Any], wait: tuple[str, int, int]
) -> list[Any]:
    """The replies to ``commands`` (WAIT's, the last of ``replies``, left out); when fewer
    replicas than asked confirmed them, each write that ran becomes an error."""
    *results, counted = replies
    wanted = wait[1]
    if isinstance(counted, int) and counted >= wanted:
        return results
    if isinstance(counted, int):
        why = f"only {counted} of {wanted} replicas confirmed it within {wait[2] / 1000} s"
    else:
        why = f"WAIT failed ({counted})"
    for index in _confirmed_writes(commands):
        reply = results[index]
        name = command_name(commands[index])
        # Error replies and an aborted EXEC (a watched key changed) say nothing ran.
        if not isinstance(reply, RedisError | hiredis.ReplyError) and (
            reply is not None or name != "EXEC"
        ):
            results[index] = RedisUnconfirmedWriteError(
                f"{name} ran on the master, but {why} (sentinel_wait_replicas): a failover "
                "may lose it",
                service="redis",
                operation=name,
            )
    return results


def _confirmed_writes(commands: Sequence[Sequence[Arg]]) -> list[int]:
    """Which replies say a write ran: each write's outside MULTI, and EXEC's of a
    transaction that holds one (the QUEUED acknowledgements say nothing)."""
    found: list[int] = []
    queuing = wrote = False
    for index, args in enumerate(commands):
        name = command_name(args)
        if name == "MULTI":
            queuing, wrote = True, False
        elif name in {"EXEC", "DISCARD"}:
            if name == "EXEC" and wrote:
                found.append(index)
            queuing = False
        elif writes(args):
            if queuing:
                wrote = True
            else:
                found.append(index)
    return found


async def _retire(connection: Connection) -> None:
    """Close ``connection`` once its pending replies are in (at most a few seconds)."""
    for _ in range(int(_RETIRE_WAIT / 0.01)):  # polled: Connection has no "drained" event
        if not connection.pending or connection.broken:
            break
        await anyio.sleep(0.01)
    await connection.aclose()


async def _pause(deadline: float, delay: float, error: RedisError) -> float:
    left = deadline - anyio.current_time()
    if left <= 0:
        raise error
    await anyio.sleep(min(delay, left))
    return min(delay * 2, _MAX_DELAY)


def _parts(value: object) -> list[object]:
    return cast("list[object]", value) if isinstance(value, list) else []


def _first(value: object) -> str:
    parts = _parts(value)
    return _text(parts[0]) if parts else repr(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
