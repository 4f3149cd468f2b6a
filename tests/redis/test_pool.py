"""The client's choice of connection among ``multiplexed_connections`` (fake streams)."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import hiredis
import pytest
from pydantic import SecretStr

from anyservices.redis._client import RedisClient
from anyservices.redis._config import RedisConfig
from anyservices.redis._connection import Connection
from anyservices.redis._errors import RedisAuthenticationError, RedisConnectError
from tests.redis.test_connection import FakeStream, wait_written


@asynccontextmanager
async def pool_of(count: int) -> AsyncGenerator[tuple[RedisClient, list[FakeStream]]]:
    """A client whose ``count`` shared connections run on fake streams."""
    client = RedisClient(
        RedisConfig(multiplexed_connections=count), logger=logging.getLogger("test")
    )
    streams = [FakeStream() for _ in range(count)]
    async with anyio.create_task_group() as tg:
        for index, stream in enumerate(streams):
            connection = Connection(stream)
            tg.start_soon(connection.run_reader)
            tg.start_soon(connection.run_writer)
            client._connections[index] = connection
        try:
            yield client, streams
        finally:
            await client.aclose()


async def _give_up_once_sent(client: RedisClient, stream: FakeStream, *args: Any) -> None:
    """Send a command and cancel the caller once it is on the wire (no sleeps)."""
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def cancel_when_written() -> None:
                await wait_written(stream, str(args[-1]).encode())
                scope.cancel()

            tg.start_soon(cancel_when_written)
            await client.execute(*args)
    assert scope.cancelled_caught


async def test_the_least_busy_connection_is_picked() -> None:
    async with pool_of(2) as (client, streams):
        result: list[Any] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: _append(result, client.execute("ECHO", "first")))
            await wait_written(streams[0], b"first")
            tg.start_soon(lambda: _append(result, client.execute("ECHO", "second")))
            await wait_written(streams[1], b"second")  # the other one: fewer pending
            streams[0].feed(b"$5\r\nfirst\r\n")
            streams[1].feed(b"$6\r\nsecond\r\n")
        assert sorted(result) == ["first", "second"]


async def test_a_task_s_commands_follow_its_cancelled_one() -> None:
    """Issue 10 #10: SET k 1 is cancelled after it was sent on connection 0, which is
    busy; the same task's SET k 2 goes to connection 0 too (not to the idle one), so it
    applies after SET k 1."""
    async with pool_of(2) as (client, streams):
        result: list[Any] = []
        await _give_up_once_sent(client, streams[0], "SET", "k", "v1")
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: _append(result, client.execute("SET", "k", "v2")))
            await wait_written(streams[0], b"v2")
            streams[0].feed(b"+OK\r\n+OK\r\n")  # the dropped reply, then its own
        assert result == ["OK"]
        assert b"v2" not in streams[1].written
        connection = client._connections[0]
        assert connection is not None
        assert connection.abandoned == {}  # its reply came: free to balance again
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: _append(result, client.execute("ECHO", "a")))
            await wait_written(streams[0], b"a")
            tg.start_soon(lambda: _append(result, client.execute("ECHO", "b")))
            await wait_written(streams[1], b"b")
            streams[0].feed(b"$1\r\na\r\n")
            streams[1].feed(b"$1\r\nb\r\n")


async def test_with_cancelled_commands_on_two_connections_each_task_follows_its_own() -> None:
    async with pool_of(2) as (client, streams):
        done: dict[str, Any] = {}
        scopes = {"a": anyio.CancelScope(), "b": anyio.CancelScope()}
        go = anyio.Event()

        async def task(name: str) -> None:
            with scopes[name]:
                await client.execute("SET", name, f"{name}-1")
            await go.wait()
            done[name] = await client.execute("SET", name, f"{name}-2")

        async with anyio.create_task_group() as tg:
            tg.start_soon(task, "a")
            await wait_written(streams[0], b"a-1")
            tg.start_soon(task, "b")
            await wait_written(streams[1], b"b-1")  # the other one: fewer pending
            scopes["a"].cancel()
            scopes["b"].cancel()
            for connection in client._connections:
                with anyio.fail_after(5):
                    while connection is not None and not connection.abandoned:
                        await anyio.lowlevel.checkpoint()
            go.set()
            await wait_written(streams[0], b"a-2")
            await wait_written(streams[1], b"b-2")
            # Another task follows the first connection that holds a cancelled command.
            tg.start_soon(lambda: _append([], client.execute("ECHO", "other")))
            await wait_written(streams[0], b"other")
            streams[0].feed(b"+OK\r\n+OK\r\n$5\r\nother\r\n")
            streams[1].feed(b"+OK\r\n+OK\r\n")
        assert done == {"a": "OK", "b": "OK"}
        assert b"a-2" not in streams[1].written
        assert b"b-2" not in streams[0].written


async def test_a_broken_connection_forgets_what_was_abandoned() -> None:
    async with pool_of(1) as (client, streams):
        await _give_up_once_sent(client, streams[0], "SET", "k", "v1")
        connection = client._connections[0]
        assert connection is not None
        assert connection.abandoned
        streams[0].hang_up()
        with anyio.fail_after(5):
            while not connection.broken:
                await anyio.lowlevel.checkpoint()
        assert connection.abandoned == {}


async def _append(result: list[Any], awaitable: Any) -> None:
    result.append(await awaitable)


async def test_a_cancelled_batch_holds_its_connection_until_its_last_reply() -> None:
    async with pool_of(2) as (client, streams):
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_when_written() -> None:
                    await wait_written(streams[0], b"b2")
                    scope.cancel()

                tg.start_soon(cancel_when_written)
                await client.execute_many([("ECHO", "b1"), ("ECHO", "b2")])
        connection = client._connections[0]
        assert connection is not None
        assert list(connection.abandoned.values()) == [2]
        streams[0].feed(b"$2\r\nb1\r\n")
        with anyio.fail_after(5):
            while list(connection.abandoned.values()) != [1]:
                await anyio.lowlevel.checkpoint()
        streams[0].feed(b"$2\r\nb2\r\n")
        with anyio.fail_after(5):
            while connection.abandoned:
                await anyio.lowlevel.checkpoint()
        assert connection.pending == 0


class _Server:
    """Answers the commands written to a fake stream from a table of replies."""

    def __init__(self, stream: FakeStream, replies: dict[bytes, bytes]) -> None:
        self.stream = stream
        self.replies = replies
        self.commands: list[list[bytes]] = []

    async def serve(self) -> None:
        reader = hiredis.Reader()
        seen = 0
        while True:
            await anyio.lowlevel.checkpoint()
            if len(self.stream.written) > seen:
                reader.feed(bytes(self.stream.written[seen:]))
                seen = len(self.stream.written)
                while (command := reader.gets()) is not False:
                    self.commands.append(command)
                    self.stream.feed(self.replies.get(command[0], b"+OK\r\n"))


@asynccontextmanager
async def served(
    config: RedisConfig, replies: dict[bytes, bytes]
) -> AsyncGenerator[tuple[RedisClient, _Server, anyio.abc.TaskGroup]]:
    """A client whose connections open onto fake streams answered from ``replies``."""
    client = RedisClient(config, logger=logging.getLogger("test"))
    stream = FakeStream()
    server = _Server(stream, replies)

    async def open_stream() -> FakeStream:
        return stream

    client._open_stream = open_stream  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        try:
            yield client, server, tg
        finally:
            await client.aclose()
            tg.cancel_scope.cancel()


async def test_a_server_without_hello_gets_the_resp2_handshake() -> None:
    config = RedisConfig(username="app", password=SecretStr("pw"), db=2, client_name="me")
    replies = {b"HELLO": b"-ERR unknown command 'HELLO'\r\n"}
    async with served(config, replies) as (client, server, tg):
        await client.open(tg)
        connection = client._connections[0]
        assert connection is not None
        assert connection.protocol == 2
    assert server.commands == [
        [b"HELLO", b"3", b"AUTH", b"app", b"pw", b"SETNAME", b"me"],
        [b"AUTH", b"app", b"pw"],
        [b"CLIENT", b"SETNAME", b"me"],
        [b"SELECT", b"2"],
    ]


async def test_resp2_auth_without_user_and_its_refusal() -> None:
    config = RedisConfig(password=SecretStr("pw"), client_name=None)
    replies = {b"HELLO": b"-NOPROTO sorry\r\n", b"AUTH": b"-WRONGPASS invalid password\r\n"}
    async with served(config, replies) as (client, server, tg):
        with pytest.raises(RedisAuthenticationError) as caught:
            await client.open(tg)
    assert server.commands[1] == [b"AUTH", b"pw"]
    assert caught.value.operation == "AUTH"


async def test_a_client_that_is_not_open_cannot_connect() -> None:
    client = RedisClient(RedisConfig(), logger=logging.getLogger("test"))
    with pytest.raises(RedisConnectError, match="not open"):
        await client.execute("PING")


@pytest.mark.parametrize("verify", [True, False])
async def test_tls_context(monkeypatch: pytest.MonkeyPatch, verify: bool) -> None:
    seen: dict[str, Any] = {}

    async def connect_tcp(host: str, port: int, *, ssl_context: ssl.SSLContext) -> FakeStream:
        seen.update(host=host, port=port, context=ssl_context)
        return FakeStream()

    monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
    config = RedisConfig(url=SecretStr("rediss://cache.example:6380/0"), tls_verify=verify)
    client = RedisClient(config, logger=logging.getLogger("test"))
    stream = await client._open_stream()
    await stream.aclose()
    assert (seen["host"], seen["port"]) == ("cache.example", 6380)
    context: ssl.SSLContext = seen["context"]
    assert context.check_hostname is verify
    assert context.verify_mode == (ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)


async def test_health_checks_close_a_connection_that_answers_badly() -> None:
    """A PING answered with an error closes the connection (the next call replaces it);
    one that breaks under the PING is left to the next call as well."""
    async with pool_of(2) as (client, streams):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client._check_health, 0.01)
            await wait_written(streams[0], b"PING")
            streams[0].feed(b"-ERR not now\r\n")
            await wait_written(streams[1], b"PING")
            streams[1].hang_up()
            with anyio.fail_after(5):
                while not all(c is not None and c.broken for c in client._connections):
                    await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()
        assert client._pick() is None  # both are replaced on the next call


async def test_resp2_without_password_or_name_sends_nothing_more() -> None:
    config = RedisConfig(client_name=None)
    async with served(config, {b"HELLO": b"-ERR unknown command 'HELLO'\r\n"}) as (
        client,
        server,
        tg,
    ):
        await client.open(tg)
    assert server.commands == [[b"HELLO", b"3"]]
