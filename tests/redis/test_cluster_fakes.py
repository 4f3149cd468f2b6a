"""Scripted in-memory cluster nodes for the ClusterClient unit tests (no network)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import hiredis
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from anyservices.redis import RedisConfig, RedisConnectError
from anyservices.redis._client import RedisClient
from anyservices.redis._cluster import ClusterClient
from anyservices.redis._slots import key_slot


class Error(str):
    """An error reply."""

    __slots__ = ()


class Hang(Exception):  # noqa: N818 -- a scripted event, not an error
    """Never answer this command."""


class Drop(Exception):  # noqa: N818 -- a scripted event, not an error
    """Close the connection instead of answering (after the command ran if ``ran``)."""

    def __init__(self, *, ran: bool = False) -> None:
        super().__init__(ran)
        self.ran = ran


def encode(value: Any) -> bytes:  # noqa: PLR0911 -- one return per RESP type
    if isinstance(value, Error):
        return b"-" + value.encode() + b"\r\n"
    if value is None:
        return b"_\r\n"
    if isinstance(value, bool):
        return b"#t\r\n" if value else b"#f\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, str | bytes):
        data = value.encode() if isinstance(value, str) else value
        return b"$%d\r\n%s\r\n" % (len(data), data)
    if isinstance(value, dict):
        items: dict[Any, Any] = value  # pyright: ignore[reportUnknownVariableType]
        return b"%%%d\r\n" % len(items) + b"".join(encode(k) + encode(v) for k, v in items.items())
    parts: list[Any] = list(value)
    return b"*%d\r\n" % len(parts) + b"".join(encode(v) for v in parts)


class Pipe(anyio.abc.ByteStream):
    """One end of an in-memory byte stream pair."""

    def __init__(
        self, send: MemoryObjectSendStream[bytes], receive: MemoryObjectReceiveStream[bytes]
    ) -> None:
        self._send = send
        self._receive = receive

    @classmethod
    def pair(cls) -> tuple[Pipe, Pipe]:
        a_send, a_receive = anyio.create_memory_object_stream[bytes](100)
        b_send, b_receive = anyio.create_memory_object_stream[bytes](100)
        return cls(a_send, b_receive), cls(b_send, a_receive)

    async def send(self, item: bytes) -> None:
        await self._send.send(item)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self._receive.receive()

    async def send_eof(self) -> None:
        await self._send.aclose()

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()


@dataclass
class Conn:
    """What a handler may look at: the node, and whether ASKING came first."""

    node: FakeNode
    asking: bool = False


Handler = Callable[[Conn, list[str]], Any]


@dataclass
class FakeNode:
    address: str
    handler: Handler | None = None
    down: bool = False
    data: dict[str, Any] = field(default_factory=dict[str, Any])
    log: list[list[str]] = field(default_factory=list[list[str]])
    connections: int = 0

    async def serve(self, stream: Pipe) -> None:
        reader = hiredis.Reader(encoding="utf-8")
        conn = Conn(self)
        try:
            while True:
                try:
                    chunk = await stream.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return
                reader.feed(chunk)
                out = b""
                while (args := reader.gets()) is not False:
                    self.log.append(args)
                    try:
                        out += encode(self.answer(conn, args))
                    except Hang:
                        continue
                    except Drop:
                        await stream.send(out)
                        return
                await stream.send(out)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # the client hung up while we answered
        finally:
            await stream.aclose()

    def answer(self, conn: Conn, args: list[str]) -> Any:
        name = args[0].upper()
        if name == "HELLO":
            return {"proto": 3}
        if name == "ASKING":
            conn.asking = True
            return "OK"
        asking, conn.asking = conn.asking, False
        if self.handler is not None:
            reply = self.handler(Conn(self, asking), args)
            if reply is not NotImplemented:
                return reply
        return self.default(args)

    def default(self, args: list[str]) -> Any:  # noqa: C901, PLR0911 -- one branch per command
        name = args[0].upper()
        if name == "PING":
            return "PONG"
        if name == "GET":
            return self.data.get(args[1])
        if name == "SET":
            self.data[args[1]] = args[2]
            return "OK"
        if name in {"INCR", "INCRBY"}:
            value = int(self.data.get(args[1], 0)) + (int(args[2]) if len(args) > 2 else 1)
            self.data[args[1]] = str(value)
            return value
        if name in {"DEL", "EXISTS"}:
            found = sum(key in self.data for key in args[1:])
            if name == "DEL":
                for key in args[1:]:
                    self.data.pop(key, None)
            return found
        if name == "MGET":
            return [self.data.get(key) for key in args[1:]]
        if name in {"MULTI", "WATCH", "UNWATCH"}:
            return "OK"
        if name == "EXEC":
            return []
        return Error(f"ERR unknown command '{args[0]}'")


class FakeCluster:
    """Nodes by address and the slot map they report."""

    def __init__(self, *ports: int) -> None:
        self.nodes = {f"127.0.0.1:{p}": FakeNode(f"127.0.0.1:{p}") for p in ports}
        size = 16384 // len(ports)
        self.ranges = {
            f"127.0.0.1:{p}": [(i * size, 16383 if i == len(ports) - 1 else (i + 1) * size - 1)]
            for i, p in enumerate(ports)
        }
        self.shards_unknown = False
        self.group: anyio.abc.TaskGroup | None = None  # where servers run for unopened clients
        self.replicas: dict[str, str] = {}
        self.views: dict[str, dict[str, list[tuple[int, int]]]] = {}  # per-node disagreement
        for node in self.nodes.values():
            node.handler = self._cluster_commands(node.handler)

    def node(self, port: int) -> FakeNode:
        return self.nodes[f"127.0.0.1:{port}"]

    def owner(self, key: str) -> FakeNode:
        slot = key_slot(key)
        for address, ranges in self.ranges.items():
            if any(a <= slot <= b for a, b in ranges):
                return self.nodes[address]
        raise AssertionError(slot)

    def add_replica(self, primary: int, replica: int) -> FakeNode:
        node = FakeNode(f"127.0.0.1:{replica}")
        node.handler = self._cluster_commands(None)
        self.nodes[node.address] = node
        self.replicas[f"127.0.0.1:{primary}"] = node.address
        return node

    def shards_reply(self, ranges: dict[str, list[tuple[int, int]]]) -> list[Any]:
        def entry(address: str, role: str) -> dict[str, Any]:
            return {"id": address, "port": int(address.rsplit(":", 1)[1]), "ip": "127.0.0.1",
                    "role": role, "health": "online"}  # fmt: skip

        return [
            {
                "slots": [bound for pair in slots for bound in pair],
                "nodes": [entry(address, "master")]
                + ([entry(self.replicas[address], "replica")] if address in self.replicas else []),
            }
            for address, slots in ranges.items()
        ]

    def slots_reply(self) -> list[Any]:
        return [
            [a, b, ["127.0.0.1", int(address.rsplit(":", 1)[1]), address]]
            for address, slots in self.ranges.items()
            for a, b in slots
        ]

    def _cluster_commands(self, inner: Handler | None) -> Handler:
        def handle(conn: Conn, args: list[str]) -> Any:
            if args[0].upper() == "CLUSTER":
                if args[1].upper() == "SHARDS":
                    if self.shards_unknown:
                        return Error("ERR unknown subcommand 'SHARDS'. Try CLUSTER HELP.")
                    return self.shards_reply(self.views.get(conn.node.address, self.ranges))
                return self.slots_reply()
            return NotImplemented if inner is None else inner(conn, args)

        return handle

    def script(self, port: int, handler: Handler) -> None:
        self.node(port).handler = self._cluster_commands(handler)


class FakeNodeClient(RedisClient):
    def __init__(self, config: RedisConfig, cluster: FakeCluster) -> None:
        super().__init__(config, logger=logging.getLogger("test"))
        self._fake = cluster

    async def _open_stream(self) -> anyio.abc.ByteStream:
        node = self._fake.nodes.get(f"{self._config.host}:{self._config.port}")
        if node is None or node.down:
            raise RedisConnectError("connection refused", service="redis", operation="connect")
        node.connections += 1
        ours, theirs = Pipe.pair()
        group = self._task_group or self._fake.group
        assert group is not None
        group.start_soon(node.serve, theirs)
        return ours


class FakeClusterClient(ClusterClient):
    def __init__(self, config: RedisConfig, cluster: FakeCluster) -> None:
        super().__init__(config, logger=logging.getLogger("test"))
        self.fake = cluster

    def _new_node(self, config: RedisConfig) -> RedisClient:
        return FakeNodeClient(config, self.fake)


def cluster_config(*ports: int, **extra: Any) -> RedisConfig:
    return RedisConfig(
        mode="cluster",
        cluster_nodes=tuple(f"127.0.0.1:{p}" for p in ports),
        client_name=None,
        **extra,
    )
