"""Redis Sentinel: the master found through the sentinels on every connect.

Each new connection asks the sentinels (``SENTINEL GET-MASTER-ADDR-BY-NAME``, a short
timeout each, dead ones skipped) where the master is, connects there and checks with
``ROLE`` that it is one: a remembered address is never used. A task subscribed to
``+switch-master`` on a sentinel drops every connection when the master changes, so the
next call (and every subscription) reconnects to the new one; READONLY and NOREPLICAS
replies do the same. Commands that were never sent (no master could be reached) and
writes the server refused are retried within ``cluster_retry_timeout``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, cast

import anyio
import anyio.abc

from ._client import RedisClient
from ._connection import Connection
from ._errors import (
    RedisConnectError,
    RedisConnectionLostError,
    RedisError,
    RedisResponseError,
)
from ._slots import command_name, parse_address, route

if TYPE_CHECKING:
    from ._config import RedisConfig
    from ._protocol import Arg

__all__ = ("SentinelClient",)

_ASK_TIMEOUT: Final = 0.5  # s for one sentinel's answer
_FIRST_DELAY: Final = 0.02
_MAX_DELAY: Final = 0.5
_RETIRE_WAIT: Final = 5.0  # s an old master's connection may finish its replies
_LOOK_AGAIN: Final = frozenset({"READONLY", "NOREPLICAS", "MASTERDOWN", "LOADING"})


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
        while True:
            try:
                return await super().execute(*args, decode=decode)
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
        while True:
            try:
                replies = await super().execute_many(commands, decode=decode)
            except RedisConnectError as exc:
                if exc.operation != "connect":
                    raise
                delay = await _pause(deadline, delay, exc)
                continue
            if any(isinstance(r, RedisResponseError) and r.code in _LOOK_AGAIN for r in replies):
                await self._drop_connections()
            return replies

    @asynccontextmanager
    async def dedicated(self, *, push: bool = False) -> AsyncGenerator[Connection, None]:
        async with super().dedicated(push=push) as connection:
            if push:
                self._subscribed.add(connection)
            try:
                yield connection
            finally:
                self._subscribed.discard(connection)


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
