"""An idle connection's caller writes and reads the socket itself (a socketpair, no network)."""

from __future__ import annotations

import contextlib
import os
import select
import socket
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import hiredis
import pytest
from anyio.streams.tls import TLSAttribute

from anyservices.redis._connection import Connection, _direct_socket
from anyservices.redis._errors import RedisConnectError, RedisTimeoutError


class Server:
    """The far end of the socketpair: reads commands, answers what the test says."""

    def __init__(self, stream: anyio.abc.SocketStream, sock: socket.socket) -> None:
        self.stream = stream
        self.sock = sock  # the connection's own socket, to reach under it
        self._reader = hiredis.Reader()

    async def command(self) -> list[bytes]:
        with anyio.fail_after(5):
            while (command := self._reader.gets()) is False:
                self._reader.feed(await self.stream.receive())
        return command  # type: ignore[no-any-return]

    async def reply(self, data: bytes) -> None:
        await self.stream.send(data)


@asynccontextmanager
async def direct(
    socket_timeout: float | None = None, *, push: bool = False
) -> AsyncGenerator[tuple[Connection, Server]]:
    ours, theirs = socket.socketpair()
    stream = await anyio.abc.UNIXSocketStream.from_socket(ours)
    far = await anyio.abc.UNIXSocketStream.from_socket(theirs)
    connection = Connection(stream, socket_timeout=socket_timeout, push=push)
    async with far, anyio.create_task_group() as tg:
        tg.start_soon(connection.run_reader)
        tg.start_soon(connection.run_writer)
        try:
            yield connection, Server(far, ours)
        finally:
            await connection.aclose()


async def answered(connection: Connection, server: Server, args: list[Any], reply: bytes) -> Any:
    result: list[Any] = []

    async def call() -> None:
        result.append(await connection.execute(args))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        assert await server.command() == [a.encode() if isinstance(a, str) else a for a in args]
        await server.reply(reply)
    return result[0]


async def test_an_idle_connection_s_caller_writes_and_reads_itself() -> None:
    async with direct() as (connection, server):
        for i in range(3):
            assert await connection.ready()
            assert await answered(connection, server, ["ECHO", f"v{i}"], b"$2\r\nv%d\r\n" % i) == (
                f"v{i}"
            )
        assert connection.batches_sent == 3
        assert connection.pending == 0


async def test_commands_queued_while_a_caller_reads_are_read_by_the_reader_task() -> None:
    results: dict[int, Any] = {}
    async with direct() as (connection, server):

        async def call(i: int) -> None:
            results[i] = await connection.execute(["ECHO", f"v{i}"])

        async with anyio.create_task_group() as tg:
            tg.start_soon(call, 0)
            assert await server.command() == [b"ECHO", b"v0"]
            tg.start_soon(call, 1)  # queued while the first caller reads: the writer sends it
            assert await server.command() == [b"ECHO", b"v1"]
            await server.reply(b"$2\r\nv0\r\n")
            with anyio.fail_after(5):
                while 0 not in results:  # noqa: ASYNC110 -- the first caller's reply
                    await anyio.sleep(0.001)
            await server.reply(b"$2\r\nv1\r\n")  # the reader task reads this one
        assert results == {0: "v0", 1: "v1"}
        assert await answered(connection, server, ["PING"], b"+PONG\r\n") == "PONG"


async def test_a_cancelled_reading_caller_leaves_its_reply_to_be_dropped() -> None:
    async with direct() as (connection, server):
        with anyio.move_on_after(0.05) as scope:
            await connection.execute(["GET", "first"])
        assert scope.cancelled_caught
        assert await server.command() == [b"GET", b"first"]
        assert connection.pending == 1
        assert connection.abandoned
        await server.reply(b"$5\r\nfirst\r\n")  # read by the reader task, and dropped
        with anyio.fail_after(5):
            while connection.pending:  # noqa: ASYNC110 -- polls the reader's progress
                await anyio.sleep(0.001)
        assert not connection.abandoned
        assert await answered(connection, server, ["GET", "second"], b"$6\r\nsecond\r\n") == (
            "second"
        )


async def test_a_command_the_socket_does_not_take_at_once_is_sent_by_the_writer() -> None:
    value = os.urandom(1 << 22)  # more than a socketpair's buffer: the rest goes later
    async with direct() as (connection, server):
        assert await answered(connection, server, ["SET", "k", value], b"+OK\r\n") == "OK"
        assert connection.batches_sent == 2  # the caller's write, then the writer's rest


async def test_a_full_socket_hands_the_whole_command_to_the_writer() -> None:
    async with direct() as (connection, server):
        sent = 0
        with contextlib.suppress(BlockingIOError):
            while True:  # fill the connection's send buffer, as if the server stopped reading
                sent += server.sock.send(b"-" * 65536)

        async def serve() -> None:
            left = sent
            while left:
                left -= len(await server.stream.receive(min(left, 65536)))
            assert await server.command() == [b"ECHO", b"after"]
            await server.reply(b"$5\r\nafter\r\n")

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            assert await connection.execute(["ECHO", "after"]) == "after"
        assert sent > 0


async def test_a_write_to_a_socket_the_peer_closed_breaks_the_connection() -> None:
    async with direct() as (connection, server):
        await server.stream.aclose()
        with pytest.raises(RedisConnectError, match="lost the connection"):
            await connection.execute(["PING"])
        assert connection.broken


async def test_an_idle_connection_the_server_closed_is_not_ready() -> None:
    async with direct() as (connection, server):
        assert not connection.hung_up()
        await server.stream.aclose()
        with anyio.fail_after(5):
            while not connection.hung_up():  # noqa: ASYNC110 -- the FIN's arrival
                await anyio.sleep(0.001)
        # hung_up() only looks (statistics are read from any thread): ready() breaks it.
        assert not connection.broken
        assert await anyio.to_thread.run_sync(connection.hung_up)
        assert not connection.broken
        assert not await connection.ready()  # broken now: the next command says why
        with pytest.raises(RedisConnectError, match="closed the idle connection"):
            await connection.execute(["PING"])


async def test_a_socket_closed_under_the_connection_is_not_ready() -> None:
    async with direct() as (connection, server):
        server.sock.close()
        assert not await connection.ready()


async def test_a_push_on_an_idle_connection_is_read_before_the_next_command() -> None:
    async with direct() as (connection, server):
        await server.reply(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n")
        assert select.select([server.sock], [], [], 5)[0]  # it has come
        assert await connection.ready()
        assert not select.select([server.sock], [], [], 0)[0]  # and ready() read it
        assert await answered(connection, server, ["PING"], b"+PONG\r\n") == "PONG"
        assert connection.pending == 0


async def test_a_reply_no_one_asked_for_on_an_idle_connection_breaks_it() -> None:
    async with direct() as (connection, server):
        await server.reply(b"+stray\r\n")
        assert select.select([server.sock], [], [], 5)[0]
        assert not await connection.ready()  # it read the reply: a protocol error
        with pytest.raises(RedisConnectError, match="protocol error"):
            await connection.execute(["PING"])


async def test_a_reading_caller_that_waits_too_long_closes_the_connection() -> None:
    async with direct(socket_timeout=0.05) as (connection, server):
        with pytest.raises(RedisTimeoutError, match="no reply"):
            await connection.execute(["BLPOP", "k", "0"])
        assert await server.command() == [b"BLPOP", b"k", b"0"]
        assert connection.broken


async def test_a_command_without_a_reply_goes_through_the_writer() -> None:
    async with direct() as (connection, server):
        connection.send_only("PING")
        assert await server.command() == [b"PING"]  # sent, with no reply to read
        assert await answered(connection, server, ["ECHO", "x"], b"$1\r\nx\r\n") == "x"


async def test_only_plain_sockets_are_written_directly() -> None:
    class TLSLike(anyio.abc.ByteStream):
        @property
        def extra_attributes(self) -> dict[Any, Any]:
            return {TLSAttribute.ssl_object: object}  # called for the value: an object

        async def receive(self, max_bytes: int = 65536) -> bytes:
            raise NotImplementedError

        async def send(self, item: bytes) -> None:
            raise NotImplementedError

        async def send_eof(self) -> None:
            raise NotImplementedError

        async def aclose(self) -> None:
            pass

    assert _direct_socket(TLSLike()) is None


class SlowToClose(anyio.abc.ByteStream):
    """A socket stream whose close takes a while (the deadline passes meanwhile)."""

    def __init__(self, inner: anyio.abc.SocketStream) -> None:
        self._inner = inner

    @property
    def extra_attributes(self) -> Any:
        return self._inner.extra_attributes

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self._inner.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self._inner.send(item)

    async def send_eof(self) -> None:
        await self._inner.send_eof()

    async def aclose(self) -> None:
        try:
            await anyio.sleep(0.2)
        finally:
            await anyio.aclose_forcefully(self._inner)


async def test_an_outcome_that_lands_as_the_deadline_passes_is_the_caller_s() -> None:
    """The connection breaks while its caller reads, and the caller's socket_timeout
    passes while it closes the stream: the caller gets the break, not a timeout."""
    ours, theirs = socket.socketpair()
    stream = SlowToClose(await anyio.abc.UNIXSocketStream.from_socket(ours))
    far = await anyio.abc.UNIXSocketStream.from_socket(theirs)
    connection = Connection(stream, socket_timeout=0.05)
    async with anyio.create_task_group() as tg:
        tg.start_soon(connection.run_reader)
        tg.start_soon(connection.run_writer)

        async def hang_up() -> None:
            await Server(far, ours).command()
            await far.aclose()

        tg.start_soon(hang_up)
        with pytest.raises(RedisConnectError, match="lost the connection"):
            await connection.execute(["PING"])
        assert connection.broken
