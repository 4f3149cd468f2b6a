"""The pipelined connection on a fake stream: FIFO replies, abandoned slots, failures."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import hiredis
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from anyservices.redis._client import RedisClient
from anyservices.redis._config import RedisConfig
from anyservices.redis._connection import Connection
from anyservices.redis._errors import (
    RedisConnectError,
    RedisDataError,
    RedisError,
    RedisTimeoutError,
)
from anyservices.redis._protocol import Arg


class FakeStream(anyio.abc.ByteStream):
    """What the connection writes is recorded; what the test feeds is what it reads."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.sends = 0
        self._feed: MemoryObjectSendStream[bytes]
        self._incoming: MemoryObjectReceiveStream[bytes]
        self._feed, self._incoming = anyio.create_memory_object_stream[bytes](math.inf)
        self.closed = False
        self.gate: anyio.Event | None = None  # while set and not fired, sends wait

    def feed(self, data: bytes) -> None:
        self._feed.send_nowait(data)

    def hang_up(self) -> None:
        self._feed.close()

    async def send(self, item: bytes) -> None:
        if self.closed:
            raise anyio.ClosedResourceError
        self.written += item
        self.sends += 1
        if self.gate is not None:
            await self.gate.wait()
        await anyio.lowlevel.checkpoint()

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self._incoming.receive()

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        self.closed = True
        self._feed.close()
        self._incoming.close()


@asynccontextmanager
async def connected(
    socket_timeout: float | None = None, *, push: bool = False
) -> AsyncGenerator[tuple[Connection, FakeStream]]:
    stream = FakeStream()
    connection = Connection(stream, socket_timeout=socket_timeout, push=push)
    async with anyio.create_task_group() as tg:
        tg.start_soon(connection.run_reader)
        tg.start_soon(connection.run_writer)
        try:
            yield connection, stream
        finally:
            await connection.aclose()


def echo_replies(written: bytes | bytearray) -> bytes:
    """The replies a server would give to the ECHO commands in ``written``, in order."""
    reader = hiredis.Reader()
    reader.feed(bytes(written))
    replies: list[bytes] = []
    while (command := reader.gets()) is not False:
        assert command[0] == b"ECHO"
        replies.append(b"$%d\r\n%s\r\n" % (len(command[1]), command[1]))
    return b"".join(replies)


async def wait_written(stream: FakeStream, data: bytes) -> None:
    with anyio.fail_after(5):
        while data not in stream.written:
            await anyio.lowlevel.checkpoint()


async def test_concurrent_commands_go_out_in_one_send_and_replies_in_order() -> None:
    results: dict[int, Any] = {}
    async with connected() as (connection, stream):

        async def call(i: int) -> None:
            results[i] = await connection.execute(["ECHO", f"v{i}"])

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(call, i)
            await wait_written(stream, b"v4")
            assert stream.sends == 1  # one batch
            stream.feed(echo_replies(stream.written))
    assert results == {i: f"v{i}" for i in range(5)}
    assert connection.batches_sent == 1


async def test_a_caller_cancelled_after_writing_leaves_its_reply_to_be_dropped() -> None:
    async with connected() as (connection, stream):
        with anyio.move_on_after(0.05) as scope:
            await connection.execute(["GET", "first"])
        assert scope.cancelled_caught
        assert b"first" in stream.written
        assert connection.pending == 1  # its slot stays

        async def second() -> Any:
            return await connection.execute(["GET", "second"])

        result: list[Any] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: _append(result, second()))
            await wait_written(stream, b"second")
            stream.feed(b"$5\r\nfir")  # the abandoned reply, split across reads
            stream.feed(b"st\r\n$6\r\nsecond\r\n")
        assert result == ["second"]
        assert connection.pending == 0


async def _append(result: list[Any], awaitable: Any) -> None:
    result.append(await awaitable)


async def test_a_caller_cancelled_before_writing_is_never_sent() -> None:
    async with connected() as (connection, stream):
        stream.gate = anyio.Event()  # the writer sticks in its first send
        result: list[Any] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(_append, result, connection.execute(["ECHO", "first"]))
            await wait_written(stream, b"first")
            with anyio.move_on_after(0.02) as scope:
                await connection.execute(["SET", "never", "sent"])
            assert scope.cancelled_caught
            assert connection.pending == 1
            tg.start_soon(_append, result, connection.execute(["ECHO", "after"]))
            await anyio.sleep(0.01)
            stream.gate.set()
            await wait_written(stream, b"after")
            stream.feed(echo_replies(stream.written))
        assert sorted(result) == ["after", "first"]  # each its own reply
        assert b"never" not in stream.written
        assert connection.commands_sent == 2


async def test_execute_many_keeps_its_commands_together() -> None:
    async with connected() as (connection, stream):
        result: list[Any] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(_append, result, connection.execute_many([["INCR", "a"], ["BAD"]]))
            await wait_written(stream, b"BAD")
            stream.feed(b":1\r\n-ERR unknown command 'BAD'\r\n")
    replies = result[0]
    assert replies[0] == 1
    assert isinstance(replies[1], hiredis.ReplyError)


async def test_hang_up_fails_every_waiter_and_later_calls() -> None:
    async with connected() as (connection, stream):
        errors: list[BaseException] = []

        async def call(i: int) -> None:
            try:
                await connection.execute(["GET", f"k{i}"])
            except RedisConnectError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(call, i)
            await wait_written(stream, b"k2")
            stream.hang_up()
        assert len(errors) == 3
        assert connection.broken
        with pytest.raises(RedisConnectError):
            await connection.execute(["PING"])


async def test_garbage_from_the_server_breaks_the_connection() -> None:
    async with connected() as (connection, stream):
        result: list[Any] = []

        async def call() -> None:
            try:
                await connection.execute(["PING"])
            except RedisConnectError as exc:
                result.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await wait_written(stream, b"PING")
            stream.feed(b"?what\r\n")
        assert isinstance(result[0], RedisConnectError)
        assert "protocol error" in str(result[0])
        assert connection.broken


async def test_socket_timeout_breaks_the_connection() -> None:
    async with connected(socket_timeout=0.05) as (connection, _stream):
        with pytest.raises(RedisTimeoutError):
            await connection.execute(["BLPOP", "k", 0])
        assert connection.broken
        with pytest.raises(RedisTimeoutError):
            await connection.execute(["PING"])


async def test_a_reply_nobody_asked_for_breaks_a_plain_connection() -> None:
    async with connected() as (connection, stream):
        stream.feed(b"+surprise\r\n")
        with anyio.fail_after(5):
            while not connection.broken:
                await anyio.lowlevel.checkpoint()
        with pytest.raises(RedisConnectError):
            await connection.execute(["PING"])


async def test_a_caller_deadline_mid_batch_does_not_shift_replies() -> None:  # noqa: C901 -- one scenario, step by step
    """Callers cancelled after their commands were written, some before any reply came
    and some while the replies were arriving (in small pieces): the others get their
    own replies. Each step waits for an event, never for time (issue 9)."""
    async with connected() as (connection, stream):
        got: dict[int, Any] = {}
        scopes = {i: anyio.CancelScope() for i in range(20)}
        left = {i: anyio.Event() for i in range(20)}
        early: list[int] = []  # cancelled before any reply
        late: list[int] = []  # cancelled between the two halves of the replies

        async def call(i: int) -> None:
            with scopes[i]:
                got[i] = await connection.execute(["ECHO", f"t{i}"])
            left[i].set()

        async def cancel(calls: list[int]) -> None:
            for i in calls:
                scopes[i].cancel()
                await left[i].wait()

        def feed(replies: list[bytes]) -> None:
            data = b"".join(replies)
            for start in range(0, len(data), 7):
                stream.feed(data[start : start + 7])

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(call, i)
            for i in range(20):  # tasks start in any order: wait for every command
                await wait_written(stream, b"\r\nt%d\r\n" % i)
            order = [int(token) for token in re.findall(rb"\r\nt(\d+)\r\n", stream.written)]
            replies = [b"$%d\r\nt%d\r\n" % (len(str(i)) + 1, i) for i in order]
            early += [i for i in order if i % 3 == 0]
            late += [i for i in order[10:] if i % 3][:3]
            await cancel(early)
            feed(replies[:10])
            with anyio.fail_after(5):
                for i in order[:10]:
                    if i not in early:
                        await left[i].wait()
            await cancel(late)
            feed(replies[10:])
            with anyio.fail_after(5):  # the last replies may be abandoned ones: no one waits
                while connection.pending:
                    await anyio.lowlevel.checkpoint()
        survivors = set(range(20)) - set(early) - set(late)
        assert got == {i: f"t{i}" for i in survivors}
        assert len(early) == 7
        assert len(late) == 3
        assert connection.pending == 0
        assert connection.abandoned == {}


@pytest.mark.parametrize("push", [False, True], ids=["shared", "subscriber"])
async def test_a_push_between_replies_is_nobody_s_reply(push: bool) -> None:
    """RESP3 pushes (tracking invalidations, messages) never take a waiter's slot."""
    async with connected(push=push) as (connection, stream):
        result: list[Any] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(_append, result, connection.execute(["ECHO", "mine"]))
            await wait_written(stream, b"mine")
            stream.feed(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$4\r\nmine\r\n")
        assert result == ["mine"]
        assert not connection.broken
        if connection.pushes is not None:
            with connection.pushes:
                assert connection.pushes.receive_nowait() == ["invalidate", ["k"]]


@pytest.mark.parametrize("name", ["SUBSCRIBE", "psubscribe", b"SSUBSCRIBE", "MONITOR"])
async def test_out_of_band_commands_are_refused_on_shared_connections(name: str | bytes) -> None:
    """Their answers are not one reply each: they would put every later reply out of step."""
    client = RedisClient(RedisConfig(), logger=logging.getLogger("test"))
    with pytest.raises(RedisError, match="shared connection"):
        await client.execute(name, "ch")
    with pytest.raises(RedisError, match="shared connection"):
        await client.execute_many([("PING",), (name, "ch")])


async def test_an_undecodable_reply_fails_only_its_own_call() -> None:
    """The reply is read whole: its caller gets RedisDataError naming the command (never
    the data), the calls around it their own replies, and the connection stays up."""
    async with connected() as (connection, stream):
        result: dict[str, Any] = {}
        commands: dict[str, tuple[Sequence[Arg], bool | None]] = {
            "before": (["ECHO", "before"], None),
            "bad": ([b"get", "k"], None),
            "raw": (["GET", "k"], False),
            "after": (["ECHO", "after"], None),
        }

        async def call(name: str) -> None:
            args, decode = commands[name]
            try:
                result[name] = await connection.execute(args, decode)
            except RedisDataError as exc:
                result[name] = exc

        async with anyio.create_task_group() as tg:
            for name, written in [
                ("before", b"before"), ("bad", b"get"), ("raw", b"GET"), ("after", b"after")
            ]:  # fmt: skip
                tg.start_soon(call, name)
                await wait_written(stream, written)
            stream.feed(b"$6\r\nbefore\r\n$2\r\n\xff\xfe\r\n$2\r\n\xff\xfe\r\n$5\r\nafter\r\n")
        error = result.pop("bad")
        assert isinstance(error, RedisDataError)
        assert error.operation == "GET"
        assert "GET" in str(error)
        assert "\\xff" not in str(error)
        assert result == {"before": "before", "raw": b"\xff\xfe", "after": "after"}
        assert not connection.broken
        assert connection.pending == 0


@pytest.mark.parametrize("push", [False, True], ids=["shared", "subscriber"])
async def test_an_undecodable_push_between_replies_is_still_a_push(push: bool) -> None:
    """A tracking invalidation for key b"t:\\xff0" between two replies: each caller gets
    its own reply (the push's bad text never takes the head request's slot)."""
    async with connected(push=push) as (connection, stream):
        result: list[Any] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(_append, result, connection.execute(["ECHO", "first"]))
            await wait_written(stream, b"first")
            tg.start_soon(_append, result, connection.execute(["ECHO", "second"]))
            await wait_written(stream, b"second")
            stream.feed(
                b">2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\nt:\xff0\r\n"
                b"$5\r\nfirst\r\n"
                b">2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\nt:\xff1\r\n"
                b"$6\r\nsecond\r\n"
            )
        assert sorted(result) == ["first", "second"]
        assert not connection.broken
        if connection.pushes is not None:
            with connection.pushes:
                assert connection.pushes.receive_nowait() == ["invalidate", [b"t:\xff0"]]
                assert connection.pushes.receive_nowait() == ["invalidate", [b"t:\xff1"]]


@pytest.mark.parametrize("resp", [b">", b"*"], ids=["resp3", "resp2"])
async def test_an_undecodable_message_reaches_the_subscriber_as_bytes(resp: bytes) -> None:
    async with connected(push=True) as (connection, stream):
        assert connection.pushes is not None
        stream.feed(resp + b"3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\n\xff\xfe\r\n")
        stream.feed(resp + b"3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nok\r\n")
        with connection.pushes, anyio.fail_after(5):
            assert await connection.pushes.receive() == ["message", "ch", b"\xff\xfe"]
            assert await connection.pushes.receive() == ["message", "ch", "ok"]
        assert not connection.broken


async def test_a_write_slower_than_socket_timeout_breaks_the_connection() -> None:
    async with connected(socket_timeout=0.05) as (connection, stream):
        stream.gate = anyio.Event()  # the send never finishes
        connection.send_only("SUBSCRIBE", "ch")  # no reply awaited: only the write times out
        with anyio.fail_after(5):
            while not connection.broken:
                await anyio.lowlevel.checkpoint()
        with pytest.raises(RedisTimeoutError, match="writing"):
            await connection.execute(["PING"])


async def test_a_failed_write_breaks_the_connection_and_fails_its_caller() -> None:
    async with connected() as (connection, stream):
        stream.closed = True  # the next send raises ClosedResourceError, as after a reset
        with pytest.raises(RedisConnectError, match="lost the connection"):
            await connection.execute(["PING"])
        assert connection.broken
        assert b"PING" not in stream.written
