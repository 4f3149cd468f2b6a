"""One Redis connection shared by many tasks, with automatic pipelining.

Every command appends a request to a FIFO; replies are parsed with hiredis and each
goes to the request at the head of the FIFO. While requests wait, a command's bytes go
to an outbox and wake the writer task, which sends everything the outbox holds in one
``send`` (commands queued by many tasks while it writes go out together in its next
round), and the reader task reads. Both tasks run in the owner's task group.

On an idle connection (nothing in flight or queued) of a plain socket, the caller
instead writes its command itself, in one non-blocking write that no cancellation can
cut (a rest the socket did not take goes to the writer task), and reads the socket
until its replies are in: one wake-up per command, as in a client without pipelining.
Commands other tasks queue meanwhile take the outbox; whoever reads hands their replies
on, and a caller done reading (or cancelled) leaves the reading to the reader task
while requests still wait. Nobody reads an idle connection, so :meth:`ready` polls
one before use: one the server closed is dropped before a command is written to it.

Cancellation never misroutes a reply: a cancelled caller cannot leave half a command
on the wire, and its request stays in the FIFO, its reply read and dropped. A
connection whose state becomes unknown (socket timeout, reset, protocol error) is
closed and every waiting request fails with ``RedisConnectError`` or
``RedisTimeoutError``.
"""

from __future__ import annotations

import math
import os
import select
import socket
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import hiredis
from anyio.abc import SocketAttribute
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from anyio.streams.tls import TLSAttribute

from .._core._waiter import Waiter, waiter_class
from ._errors import (
    RedisConnectError,
    RedisDataError,
    RedisError,
    RedisTimeoutError,
    response_error,
)
from ._protocol import NOT_ENOUGH_DATA, Arg, Parser, Undecodable, command_name, encode_command

if TYPE_CHECKING:
    from .._core._telemetry import Telemetry

__all__ = ("Connection",)

_STREAM_ERRORS = (
    OSError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
)


_FREE, _TASK, _CALLER = 0, 1, 2  # who reads the socket: nobody (idle), the task, a caller


# What a poll of an idle socket says when the server closed it (POLLRDHUP: Linux's FIN).
_HUNG_UP = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)


def _direct_socket(stream: anyio.abc.ByteStream) -> socket.socket | None:
    """The socket a caller may write to itself: a plain one (no TLS), on POSIX."""
    # S610 is about Django's QuerySet.extra; this is anyio's typed attribute lookup.
    tls = stream.extra(TLSAttribute.ssl_object, None)  # noqa: S610
    if os.name != "posix" or tls is not None:
        return None
    return stream.extra(SocketAttribute.raw_socket, None)  # noqa: S610


class _Request:
    __slots__ = ("command", "decode", "finished", "owner", "value", "waiter")

    def __init__(self, decode: bool, command: Arg) -> None:
        self.decode = decode
        self.command = command  # the command's name, for an error about its reply
        self.finished = False
        self.waiter: Waiter | None = None  # made only when its caller has to wait
        self.value: Any = None
        self.owner: int | None = None  # the task that gave up on it after it was sent

    def finish(self, value: Any) -> None:
        self.value = value
        self.finished = True
        if self.waiter is not None:
            self.waiter.set()


class _Batch:
    """What one call queued: its bytes and the requests waiting for its replies."""

    __slots__ = ("direct", "payload", "requests")

    def __init__(self, payload: bytes, requests: list[_Request]) -> None:
        self.payload = payload
        self.requests = requests
        self.direct = False  # its caller wrote it and reads its replies


class Connection:
    """A multiplexed connection: call :meth:`run_reader` in a task group, then use it."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        *,
        encoding: str = "utf-8",
        decode: bool = True,
        socket_timeout: float | None = None,
        description: str = "redis",
        push: bool = False,
    ) -> None:
        self._stream = stream
        self._encoding = encoding
        self._decode = decode
        self._timeout = socket_timeout
        self._description = description
        self._parser = Parser(encoding)
        self._waiting: deque[_Request] = deque()
        self._outbox: list[_Batch] = []
        self._wakeup = anyio.Event()
        self._writing = False  # the writer task is in a send
        self._sock = None if push else _direct_socket(stream)
        self._poll = select.poll()
        if self._sock is not None:
            self._poll.register(self._sock.fileno(), select.POLLIN | _HUNG_UP)
        self._reader = _TASK if self._sock is None else _FREE
        self._turn = anyio.Event()  # set when the reading passes to the reader task
        self._waiter = waiter_class()  # what a caller waits on for its reply
        self._broken: RedisError | None = None
        self.protocol = 2
        # Pub/sub: frames no request waits for go here (unbounded: nothing is dropped).
        self.pushes: MemoryObjectReceiveStream[Any] | None = None
        self._push_sender: MemoryObjectSendStream[Any] | None = None
        if push:
            self._push_sender, self.pushes = anyio.create_memory_object_stream[Any](math.inf)
        self.commands_sent = 0
        self.batches_sent = 0
        # Tasks whose cancelled commands were sent and await their replies: task id ->
        # how many (the client sends a task's later commands after them, here).
        self.abandoned: dict[int, int] = {}
        # Set on dedicated connections (WATCH, pub/sub): their commands get a span each
        # here; shared ones are traced by the client, around reconnects too.
        self.telemetry: Telemetry | None = None

    @property
    def broken(self) -> bool:
        return self._broken is not None

    @property
    def pending(self) -> int:
        return len(self._waiting)

    async def execute(self, args: Sequence[Arg], decode: bool | None = None) -> Any:
        """Send one command and return its reply (error replies are returned, not raised)."""
        if self.telemetry is not None:
            return (await self._traced(self.telemetry, [args], decode))[0]
        batch = self._submit([args], self._decode if decode is None else decode)
        return (await self._collect(batch))[0]

    async def execute_many(
        self, commands: Sequence[Sequence[Arg]], decode: bool | None = None
    ) -> list[Any]:
        """Send commands back to back (no other task's command between them)."""
        if self.telemetry is not None:
            return await self._traced(self.telemetry, commands, decode)
        batch = self._submit(commands, self._decode if decode is None else decode)
        return await self._collect(batch)

    async def _traced(
        self, telemetry: Telemetry, commands: Sequence[Sequence[Arg]], decode: bool | None
    ) -> list[Any]:
        """``execute_many`` with a span per command (a dedicated connection's)."""
        spans = telemetry.start_batch(commands)
        try:
            batch = self._submit(commands, self._decode if decode is None else decode)
            replies = await self._collect(batch)
        except BaseException as error:  # recorded, then re-raised as it is
            if spans is not None:
                spans.end(error)
            raise
        if spans is not None:
            spans.end(replies=[
                response_error(str(reply), command_name(args))
                if isinstance(reply, hiredis.ReplyError)
                else reply
                for args, reply in zip(commands, replies, strict=True)
            ])  # fmt: skip
        return replies

    def send_only(self, *args: Arg) -> None:
        """Queue a command whose answers arrive as pushes (SUBSCRIBE and friends)."""
        self._submit([args], self._decode, expect_reply=False)

    async def ready(self) -> bool:
        """Whether to send on it: not broken, and if idle, nothing left unread.

        Nobody reads an idle connection, so this polls its socket: a server that closed
        it breaks it here, before a command goes out; what else came (a push) is read
        first.
        """
        events = self._idle_events()
        if events & _HUNG_UP:
            self._break(
                RedisConnectError(
                    f"{self._description} closed the idle connection", service="redis"
                )
            )
        elif events:
            self._reader = _CALLER
            try:
                await self._receive()
            finally:
                self._hand_back()
        return self._broken is None

    def hung_up(self) -> bool:
        """Whether it is broken, or idle and closed by the server (one poll, no change:
        statistics are read from any thread, a metrics exporter's included)."""
        return self._broken is not None or bool(self._idle_events() & _HUNG_UP)

    def _idle_events(self) -> int:
        """What a poll of the idle socket reports (0: nothing, or not idle)."""
        if self._reader != _FREE or self._sock is None:
            return 0
        if self._sock.fileno() < 0:  # the transport closed it (a reset while reading)
            return select.POLLNVAL
        polled = self._poll.poll(0)
        return polled[0][1] if polled else 0

    def _submit(
        self, commands: Sequence[Sequence[Arg]], decode: bool, *, expect_reply: bool = True
    ) -> _Batch:
        """Queue ``commands``; on an idle connection, write them here and now."""
        if self._broken is not None:
            raise self._broken
        payload = b"".join([encode_command(args, self._encoding) for args in commands])
        batch = _Batch(
            payload,
            [_Request(decode, args[0] if args else "?") for args in commands]
            if expect_reply
            else [],
        )
        self._waiting.extend(batch.requests)
        self.commands_sent += len(commands)
        if self._reader == _FREE and batch.requests:
            self._reader = _CALLER
            batch.direct = True
            self.batches_sent += 1
            self._write_now(payload)
            return batch
        if self._reader == _FREE:
            self._reader = _TASK  # a command with no reply: pushes may follow
            self._turn.set()
        self._outbox.append(batch)
        self._wakeup.set()
        return batch

    def _write_now(self, payload: bytes) -> None:
        """Write to the idle socket without waiting; what it does not take, the writer sends.

        Idle, everything sent before has been answered, so nothing waits in the
        transport's buffer to go out ahead of these bytes.
        """
        assert self._sock is not None  # noqa: S101 -- only idle direct connections get here
        try:
            sent = os.write(self._sock.fileno(), payload)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._break(self._lost(exc))
            return
        if sent < len(payload):
            self._outbox.append(_Batch(payload[sent:], []))
            self._wakeup.set()

    def _withdraw(self, batch: _Batch) -> None:
        """Take back a batch the writer has not taken yet: it is never sent.

        A batch already written stays: its replies will be read and dropped, and the
        requests still waiting are noted as abandoned by the current task.
        """
        try:
            self._outbox.remove(batch)
        except ValueError:
            task = anyio.get_current_task().id
            for request in batch.requests:
                if not request.finished:
                    request.owner = task
                    self.abandoned[task] = self.abandoned.get(task, 0) + 1
            return
        for request in batch.requests:
            self._waiting.remove(request)
        self.commands_sent -= len(batch.requests)

    async def run_writer(self) -> None:
        """Send what the outbox holds, batch after batch (run it in the owner's task group)."""
        while self._broken is None:
            await self._wakeup.wait()
            self._wakeup = anyio.Event()
            while self._outbox and self._broken is None:
                data = b"".join([batch.payload for batch in self._outbox])
                self._outbox.clear()
                self.batches_sent += 1
                self._writing = True
                try:
                    await self._send(data)
                finally:
                    self._writing = False

    async def _send(self, data: bytes) -> None:
        try:
            if self._timeout is None:
                await self._stream.send(data)
            else:
                with anyio.fail_after(self._timeout):
                    await self._stream.send(data)
        except TimeoutError:
            await self._fail(
                RedisTimeoutError(
                    f"writing to {self._description} took more than {self._timeout} s",
                    service="redis",
                )
            )
        except _STREAM_ERRORS as exc:
            await self._fail(self._lost(exc))

    async def _collect(self, batch: _Batch) -> list[Any]:
        """Wait for ``batch``'s replies (reading them itself if it wrote them)."""
        try:
            if self._timeout is None:
                await self._replies(batch)
            else:
                with anyio.fail_after(self._timeout):
                    await self._replies(batch)
        except TimeoutError:
            if not batch.requests[-1].finished:
                # The reply may still come: the stream's state is unknown, so close it.
                with anyio.CancelScope(shield=True):
                    await self._fail(
                        RedisTimeoutError(
                            f"no reply from {self._description} within {self._timeout} s",
                            service="redis",
                        )
                    )
        except BaseException:  # cancelled: re-raised at once, after taking back unsent bytes
            self._withdraw(batch)
            raise
        values: list[Any] = []
        for request in batch.requests:
            if isinstance(request.value, _Failure):
                raise request.value.error
            values.append(request.value)
        return values

    async def _replies(self, batch: _Batch) -> None:
        """Until every reply of ``batch`` is in: read them (a direct batch), or wait."""
        if batch.direct:
            last = batch.requests[-1]  # replies come in order: the last one comes last
            try:
                while not last.finished and await self._receive():
                    pass
            finally:
                self._hand_back()
            return
        for request in batch.requests:
            if not request.finished:
                request.waiter = waiter = self._waiter()
                await waiter.wait()

    def _hand_back(self) -> None:
        """A reading caller is done: the reader task reads on if requests still wait."""
        if self._broken is not None:
            return
        if self._idle():
            self._reader = _FREE
        else:
            self._reader = _TASK
            self._turn.set()

    def _idle(self) -> bool:
        """Nothing waits for a reply, is queued or is being written."""
        return not (self._waiting or self._outbox or self._writing)

    async def run_reader(self) -> None:
        """Read replies until the connection closes (run it in the owner's task group)."""
        try:
            while self._broken is None:
                if self._reader != _TASK:
                    await self._turn.wait()
                    self._turn = anyio.Event()
                    continue
                if not await self._receive():
                    return
                if self._sock is not None and self._idle():
                    self._reader = _FREE  # the next caller reads for itself
        finally:
            with anyio.CancelScope(shield=True):
                await self._fail(RedisConnectError("the connection was closed", service="redis"))

    async def _receive(self) -> bool:
        """Read once and hand on what came; False when the connection broke (and closed)."""
        try:
            data = await self._stream.receive()
            self._parser.feed(data)
            self._dispatch()
        except _STREAM_ERRORS as exc:
            await self._fail(self._lost(exc))
            return False
        except hiredis.ProtocolError as exc:
            await self._fail(
                RedisConnectError(
                    f"protocol error from {self._description}: {exc}", service="redis"
                )
            )
            return False
        return True

    def _dispatch(self) -> None:
        """Hand every complete frame to its request, or to the subscriber if it is a push.

        Routing looks only at a frame's kind, never at whether its text decoded: an
        undecodable reply fails its own request, an undecodable push is still a push.
        """
        waiting = self._waiting
        parser = self._parser
        while True:
            frame = parser.next(waiting[0].decode if waiting else self._decode)
            if frame is NOT_ENOUGH_DATA:
                return
            undecodable = type(frame) is Undecodable
            if undecodable:
                frame = frame.frame
            if type(frame) is hiredis.PushNotification:  # out of band: no command's reply
                self._push(frame)
            elif waiting:
                request = waiting.popleft()
                request.finish(self._undecodable(request) if undecodable else frame)
                if request.owner is not None:
                    self._answered(request.owner)
            elif self._push_sender is not None:  # RESP2 pub/sub: every frame is a message
                self._push(frame)
            else:
                raise hiredis.ProtocolError("a reply arrived that no command was waiting for")

    def _answered(self, task: int) -> None:
        """An abandoned request got its reply (dropped): ``task`` is free to go elsewhere."""
        left = self.abandoned[task] - 1
        if left:
            self.abandoned[task] = left
        else:
            del self.abandoned[task]

    def _undecodable(self, request: _Request) -> _Failure:
        command = request.command
        name = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
        return _Failure(
            RedisDataError(
                f"the reply to {name.upper()} is not valid {self._encoding} text; "
                "read it with decode_responses=False",
                service="redis",
                operation=name.upper(),
            )
        )

    def _push(self, frame: Any) -> None:
        """A RESP3 push (or a RESP2 pub/sub message): to the subscriber, else dropped.

        Text that is not valid in the encoding arrives as the bytes the server sent.
        """
        if self._push_sender is not None:
            self._push_sender.send_nowait(frame)

    def _lost(self, exc: BaseException) -> RedisConnectError:
        return RedisConnectError(
            f"lost the connection to {self._description}: {exc!r}", service="redis"
        )

    def _break(self, error: RedisError) -> None:
        """Mark the connection broken and fail every waiting request (the stream stays
        open until :meth:`_fail`: the reader task's last act)."""
        if self._broken is None:
            self._broken = error
        failure = _Failure(self._broken)
        while self._waiting:
            self._waiting.popleft().finish(failure)
        self.abandoned.clear()
        self._outbox.clear()
        self._wakeup.set()  # let the writer see that it is done
        self._turn.set()  # and the reader
        if self._push_sender is not None:
            self._push_sender.close()  # a subscriber sees the end and reconnects

    async def _fail(self, error: RedisError) -> None:
        """Mark the connection broken, fail every waiting request, close the stream."""
        self._break(error)
        await self._stream.aclose()

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._fail(RedisConnectError("the connection was closed", service="redis"))


class _Failure:
    """Stands in a request's reply slot when the connection broke before the reply came."""

    __slots__ = ("error",)

    def __init__(self, error: RedisError) -> None:
        self.error = error
