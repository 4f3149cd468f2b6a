"""The connection layer the service uses: connecting, the handshake, and a small pool.

Commands share ``multiplexed_connections`` pipelined connections (each picked by the
fewest pending replies, except that while a cancelled command that was already sent
awaits its reply, later commands go to the connection that holds it, so they apply
after it); a broken one is replaced on the next call. The client owns no task group:
readers run in the one its owner passes to :meth:`open`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import hiredis

from .._core._telemetry import redis_telemetry
from ._config import RedisConfig
from ._connection import Connection
from ._errors import RedisConnectError, RedisError, RedisTimeoutError, response_error
from ._protocol import Arg, command_name

__all__ = ("PoolStatistics", "RedisClient")


@dataclass(frozen=True)
class PoolStatistics:
    connections: int
    pending_replies: int
    commands_sent: int
    batches_sent: int
    reconnects: int


class RedisClient:
    """Connects, authenticates and hands commands to pipelined connections."""

    def __init__(self, config: RedisConfig, *, logger: logging.Logger) -> None:
        self._config = config
        self._logger = logger
        self._task_group: anyio.abc.TaskGroup | None = None
        self._connections: list[Connection | None] = [None] * config.multiplexed_connections
        self._connect_lock = anyio.Lock()
        self._reconnects = 0
        self._lost = False  # a broken connection was dropped and not yet replaced
        self._connect_failures = 0
        self._connect_error: RedisError | None = None
        spare = max(1, config.max_connections - config.multiplexed_connections)
        self._dedicated_slots = anyio.Semaphore(spare)
        self._closed_stats = (0, 0)
        self._telemetry = redis_telemetry(
            config.host,
            config.port,
            config.db,
            unix_socket=config.unix_socket_path,
            namer=command_name,
        )

    async def open(self, task_group: anyio.abc.TaskGroup) -> None:
        """Connect the first connection now, so a bad address or password fails at once."""
        self._task_group = task_group
        self._connections[0] = await self._connect()
        if self._config.health_check_interval is not None:
            task_group.start_soon(self._check_health, self._config.health_check_interval)

    async def aclose(self) -> None:
        for index, connection in enumerate(self._connections):
            if connection is not None:
                await connection.aclose()
            self._connections[index] = None

    async def _check_health(self, interval: float) -> None:
        """PING idle connections every ``interval`` s; a dead one is replaced on next use."""
        while True:
            await anyio.sleep(interval)
            for connection in self._connections:
                if connection is None or connection.broken or connection.pending:
                    continue
                reply: object = None
                with anyio.move_on_after(max(interval, 1.0)) as scope:
                    try:
                        reply = await connection.execute(("PING",))
                    except (RedisConnectError, RedisTimeoutError):
                        continue  # it broke (and is closed): the next call replaces it
                if scope.cancelled_caught or isinstance(reply, hiredis.ReplyError):
                    self._logger.warning("health check failed on %s", self._config.describe())
                    await connection.aclose()

    def statistics(self) -> PoolStatistics:
        live = [c for c in self._connections if c is not None]
        return PoolStatistics(
            connections=sum(not c.hung_up() for c in live),
            pending_replies=sum(c.pending for c in live),
            commands_sent=sum(c.commands_sent for c in live) + self._closed_stats[0],
            batches_sent=sum(c.batches_sent for c in live) + self._closed_stats[1],
            reconnects=self._reconnects,
        )

    async def execute(self, *args: Arg, decode: bool | None = None) -> Any:
        """Run one command; an error reply raises the matching RedisError."""
        _check_shareable(args)
        operation = self._telemetry.start(args)  # a span per command; None: nothing records
        try:
            connection = self._pick()
            if connection is None or not await connection.ready():
                connection = await self._replace_broken()
            reply = await connection.execute(args, decode)
            if isinstance(reply, hiredis.ReplyError):
                raise response_error(str(reply), command_name(args))  # noqa: TRY301 -- recorded below
        except BaseException as error:  # recorded, then re-raised as it is
            if operation is not None:
                operation.end(error)
            raise
        if operation is not None:
            operation.end()
        return reply

    async def execute_many(
        self, commands: Sequence[Sequence[Arg]], *, decode: bool | None = None
    ) -> list[Any]:
        """Run commands back to back on one connection; error replies come back as values."""
        for args in commands:
            _check_shareable(args)
        batch = self._telemetry.start_batch(commands)  # still a span per command, or None
        try:
            connection = self._pick()
            if connection is None or not await connection.ready():
                connection = await self._replace_broken()
            replies = await connection.execute_many(commands, decode)
        except BaseException as error:  # recorded, then re-raised as it is
            if batch is not None:
                batch.end(error)
            raise
        results = [
            response_error(str(reply), command_name(args))
            if isinstance(reply, hiredis.ReplyError)
            else reply
            for args, reply in zip(commands, replies, strict=True)
        ]
        if batch is not None:
            batch.end(replies=results)
        return results

    @asynccontextmanager
    async def dedicated(self, *, push: bool = False) -> AsyncGenerator[Connection, None]:
        """A connection of its own (WATCH, pub/sub), closed when the block ends.

        With ``push``, replies no request waits for (pub/sub messages) go to
        ``connection.pushes``.
        """
        async with self._dedicated_slots:
            connection = await self._connect(push=push)
            connection.telemetry = self._telemetry  # its commands are spans too
            try:
                yield connection
            finally:
                await connection.aclose()

    def _pick(self) -> Connection | None:
        """The connection with the fewest pending replies, unless a cancelled command
        is still in flight: then one that holds it, so later commands apply after it."""
        best: Connection | None = None
        holding: list[Connection] = []
        for connection in self._connections:
            if connection is None or connection.broken:
                return None  # fill or replace it first
            if connection.abandoned:
                holding.append(connection)
            if best is None or connection.pending < best.pending:
                best = connection
        if len(holding) > 1:
            task = anyio.get_current_task().id
            return next((c for c in holding if task in c.abandoned), holding[0])
        return holding[0] if holding else best

    async def _replace_broken(self) -> Connection:
        failures_seen = self._connect_failures
        async with self._connect_lock:
            if self._connect_failures != failures_seen and self._connect_error is not None:
                # A reconnect failed while this call waited: fail now rather than retry
                # once per waiting call (each could take socket_connect_timeout).
                error = self._connect_error
                raise type(error)(error.message, service="redis", operation="connect")
            for index, connection in enumerate(self._connections):
                if connection is None or connection.broken:
                    if connection is not None:
                        self._lost = True
                        old = self._closed_stats
                        self._closed_stats = (
                            old[0] + connection.commands_sent,
                            old[1] + connection.batches_sent,
                        )
                        self._connections[index] = None
                        self._logger.info("reconnecting to %s", self._config.describe())
                    try:
                        self._connections[index] = await self._connect()
                    except RedisError as exc:
                        self._connect_failures += 1
                        self._connect_error = exc
                        raise
                    if self._lost:
                        self._lost = False
                        self._reconnects += 1
        picked = self._pick()
        if picked is None:  # pragma: no cover - just connected every slot
            raise RedisConnectError("no usable connection", service="redis")
        return picked

    async def _connect(self, *, push: bool = False) -> Connection:
        """Connect and shake hands, both within ``socket_connect_timeout``.

        A server that accepts but never answers fails with RedisTimeoutError instead of
        waiting for ``socket_timeout`` (which may be None: no limit) in the handshake.
        """
        if self._task_group is None:
            raise RedisConnectError("the client is not open", service="redis")
        config = self._config
        timeout = config.socket_connect_timeout
        silent = ""
        with anyio.move_on_after(timeout):
            stream = await self._open_stream()
            silent = " (it accepted the connection but did not answer the handshake)"
            connection = Connection(
                stream,
                encoding=config.encoding,
                decode=config.decode_responses,
                socket_timeout=config.socket_timeout,
                description=config.describe(),
                push=push,
            )
            self._task_group.start_soon(connection.run_reader)
            self._task_group.start_soon(connection.run_writer)
            try:
                await self._handshake(connection)
            except BaseException:
                await connection.aclose()
                if connection.pushes is not None:  # nobody will read it: close its end too
                    connection.pushes.close()
                raise
            return connection
        raise RedisTimeoutError(
            f"could not connect to {config.describe()} within {timeout} s{silent}",
            service="redis",
            operation="connect",
        )

    async def _open_stream(self) -> anyio.abc.ByteStream:
        config = self._config
        try:
            if config.unix_socket_path:
                return await anyio.connect_unix(config.unix_socket_path)
            context: ssl.SSLContext | None = None
            if config.tls:
                context = ssl.create_default_context()
                if not config.tls_verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
            if context is not None:
                return await anyio.connect_tcp(config.host, config.port, ssl_context=context)
            return await anyio.connect_tcp(config.host, config.port)
        except OSError as exc:
            raise RedisConnectError(
                f"could not connect to {config.describe()}: {exc.strerror or exc}",
                service="redis",
                operation="connect",
            ) from None

    async def _handshake(self, connection: Connection) -> None:
        config = self._config
        password = config.password.get_secret_value() if config.password else None
        hello: list[Arg] = ["HELLO", 3]
        if password is not None:
            hello += ["AUTH", config.username or "default", password]
        if config.client_name:
            hello += ["SETNAME", config.client_name]
        reply = await connection.execute(hello)
        if isinstance(reply, hiredis.ReplyError):
            message = str(reply)
            if not message.startswith(("ERR unknown command", "NOPROTO")):
                raise response_error(message, "HELLO")
            await self._handshake_resp2(connection, password)
        else:
            connection.protocol = 3
        if config.db:
            await self._checked(connection, ["SELECT", config.db])

    async def _handshake_resp2(self, connection: Connection, password: str | None) -> None:
        config = self._config
        if password is not None:
            auth: list[Arg] = ["AUTH", password]
            if config.username:
                auth = ["AUTH", config.username, password]
            await self._checked(connection, auth)
        if config.client_name:
            await self._checked(connection, ["CLIENT", "SETNAME", config.client_name])

    @staticmethod
    async def _checked(connection: Connection, args: list[Arg]) -> Any:
        reply = await connection.execute(args)
        if isinstance(reply, hiredis.ReplyError):
            raise response_error(str(reply), command_name(args))
        return reply


# Commands whose answers are not one reply each: on a shared connection they would put
# every later reply out of step, so they only run through subscribe() or dedicated().
_OUT_OF_BAND = frozenset(
    {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"}
    | {"MONITOR"}
)
_OUT_OF_BAND_LENGTHS = range(min(map(len, _OUT_OF_BAND)), max(map(len, _OUT_OF_BAND)) + 1)


def _check_shareable(args: Sequence[Arg]) -> None:
    name = args[0] if args else None
    # Cheap first: only names as long as those above are upper-cased and looked up.
    if isinstance(name, str | bytes) and len(name) in _OUT_OF_BAND_LENGTHS:
        text = name.decode(errors="replace") if isinstance(name, bytes) else name
        if text.upper() in _OUT_OF_BAND:
            raise RedisError(
                f"{text.upper()} cannot run on the shared connection; use subscribe()",
                service="redis",
                operation=text.upper(),
            )
