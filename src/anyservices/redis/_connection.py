"""One Redis connection shared by many tasks, with automatic pipelining.

Every command appends its encoded bytes to an outbox and a request to a FIFO, and
wakes the connection's writer task, which sends everything the outbox holds in one
``send``: commands queued by many tasks while it writes go out together in its next
round. The reader task parses replies with hiredis and hands each to the request at
the head of the FIFO. Both tasks run in the owner's task group.

Cancellation never misroutes a reply: callers never write (so a cancelled caller
cannot leave half a command on the wire), and a cancelled caller's request stays in
the FIFO, its reply read and dropped. A connection whose state becomes unknown
(socket timeout, reset, protocol error) is closed and every waiting request fails
with ``RedisConnectError`` or ``RedisTimeoutError``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import hiredis
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

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


class _Request:
    __slots__ = ("command", "decode", "done", "owner", "value")

    def __init__(self, decode: bool, command: Arg) -> None:
        self.decode = decode
        self.command = command  # the command's name, for an error about its reply
        self.done = anyio.Event()
        self.value: Any = None
        self.owner: int | None = None  # the task that gave up on it after it was sent


class _Batch:
    """What one call queued: its bytes and the requests waiting for its replies."""

    __slots__ = ("payload", "requests")

    def __init__(self, payload: bytes, requests: list[_Request]) -> None:
        self.payload = payload
        self.requests = requests


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
        batch = self._enqueue([args], self._decode if decode is None else decode)
        return await self._wait(batch, batch.requests[0])

    async def execute_many(
        self, commands: Sequence[Sequence[Arg]], decode: bool | None = None
    ) -> list[Any]:
        """Send commands back to back (no other task's command between them)."""
        if self.telemetry is not None:
            return await self._traced(self.telemetry, commands, decode)
        batch = self._enqueue(commands, self._decode if decode is None else decode)
        return [await self._wait(batch, request) for request in batch.requests]

    async def _traced(
        self, telemetry: Telemetry, commands: Sequence[Sequence[Arg]], decode: bool | None
    ) -> list[Any]:
        """``execute_many`` with a span per command (a dedicated connection's)."""
        spans = telemetry.start_batch(commands)
        try:
            batch = self._enqueue(commands, self._decode if decode is None else decode)
            replies = [await self._wait(batch, request) for request in batch.requests]
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
        self._enqueue([args], self._decode, expect_reply=False)

    def _enqueue(
        self, commands: Sequence[Sequence[Arg]], decode: bool, *, expect_reply: bool = True
    ) -> _Batch:
        if self._broken is not None:
            raise self._broken
        payload = b"".join([encode_command(args, self._encoding) for args in commands])
        batch = _Batch(
            payload,
            [_Request(decode, args[0] if args else "?") for args in commands]
            if expect_reply
            else [],
        )
        self._outbox.append(batch)
        self._waiting.extend(batch.requests)
        self.commands_sent += len(commands)
        self._wakeup.set()
        return batch

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
                if not request.done.is_set():
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
                await self._send(data)

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
            await self._fail(
                RedisConnectError(
                    f"lost the connection to {self._description}: {exc!r}", service="redis"
                )
            )

    async def _wait(self, batch: _Batch, request: _Request) -> Any:
        try:
            if self._timeout is None:
                await request.done.wait()
            else:
                with anyio.fail_after(self._timeout):
                    await request.done.wait()
        except TimeoutError:
            if not request.done.is_set():
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
        if isinstance(request.value, _Failure):
            raise request.value.error
        return request.value

    async def run_reader(self) -> None:
        """Read replies until the connection closes (run it in the owner's task group)."""
        try:
            while True:
                data = await self._stream.receive()
                self._parser.feed(data)
                self._dispatch()
        except _STREAM_ERRORS as exc:
            await self._fail(
                RedisConnectError(
                    f"lost the connection to {self._description}: {exc!r}", service="redis"
                )
            )
        except hiredis.ProtocolError as exc:
            await self._fail(
                RedisConnectError(
                    f"protocol error from {self._description}: {exc}", service="redis"
                )
            )
        finally:
            with anyio.CancelScope(shield=True):
                await self._fail(RedisConnectError("the connection was closed", service="redis"))

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
                request.value = self._undecodable(request) if undecodable else frame
                request.done.set()
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

    async def _fail(self, error: RedisError) -> None:
        """Mark the connection broken, fail every waiting request, close the stream."""
        if self._broken is None:
            self._broken = error
        failure = _Failure(self._broken)
        while self._waiting:
            request = self._waiting.popleft()
            request.value = failure
            request.done.set()
        self.abandoned.clear()
        self._outbox.clear()
        self._wakeup.set()  # let the writer see that it is done
        if self._push_sender is not None:
            self._push_sender.close()  # a subscriber sees the end and reconnects
        await self._stream.aclose()

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._fail(RedisConnectError("the connection was closed", service="redis"))


class _Failure:
    """Stands in a request's reply slot when the connection broke before the reply came."""

    __slots__ = ("error",)

    def __init__(self, error: RedisError) -> None:
        self.error = error
