"""Redis Cluster slots: CRC16, hash tags, the CLUSTER SHARDS/SLOTS replies and the routing table.

A key's slot is ``CRC16(key) mod 16384``, where only the part between the first ``{``
and the next ``}`` is hashed when that part is not empty (a *hash tag*): keys that share
a tag share a slot, which transactions, scripts and WATCH need on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, cast

__all__ = (
    "SLOTS",
    "Node",
    "Shard",
    "SlotTable",
    "hash_tag",
    "key_slot",
    "parse_shards",
    "parse_slots",
)

SLOTS: Final = 16384


def _crc16_table() -> tuple[int, ...]:
    table: list[int] = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE: Final = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC16-CCITT (XModem), the checksum Redis Cluster hashes keys with."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def key_slot(key: str | bytes | float, encoding: str = "utf-8") -> int:
    """The slot (0-16383) of ``key``, honouring hash tags (``{user1}.a`` hashes ``user1``)."""
    if isinstance(key, str):
        data = key.encode(encoding)
    elif isinstance(key, bytes):
        data = key
    else:
        data = repr(key).encode()
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    return crc16(data) % SLOTS


def hash_tag(tag: str, *parts: str) -> str:
    """A key whose slot is ``tag``'s: ``hash_tag("user1", "cart")`` -> ``"{user1}:cart"``.

    Keys built with the same ``tag`` live in one slot, so one transaction, script or
    WATCH may use them together on a cluster.
    """
    if not tag or "{" in tag or "}" in tag:
        raise ValueError(f"hash_tag: the tag must be non-empty and free of braces, not {tag!r}")
    return ":".join([f"{{{tag}}}", *parts])


@dataclass(frozen=True)
class Node:
    """One cluster node as the slot map describes it."""

    host: str
    port: int
    node_id: str = ""
    primary: bool = True

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Shard:
    """A primary, its replicas, and the slot ranges (inclusive) they serve."""

    primary: Node
    replicas: tuple[Node, ...] = ()
    ranges: tuple[tuple[int, int], ...] = field(default=())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _as_mapping(value: Any) -> Mapping[str, Any]:
    """A RESP3 map, or a RESP2 flat list of name/value pairs, as a dict with str keys."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, Mapping):
        items = cast("Mapping[object, Any]", value).items()
    else:
        flat = cast("list[object]", value)
        items = zip(flat[::2], flat[1::2], strict=True)
    return {_text(name): item for name, item in items}


def _node_of(entry: Mapping[str, Any], seed_host: str) -> Node:
    host = _text(entry.get("ip") or seed_host)
    if host == "?":  # the node does not know its own address: reach it as the seed
        host = seed_host
    port = int(entry.get("port") or entry.get("tls-port") or 0)
    return Node(host, port, _text(entry.get("id", "")), _text(entry.get("role")) == "master")


def parse_shards(reply: Sequence[Any], seed_host: str = "127.0.0.1") -> list[Shard]:
    """The shards of a ``CLUSTER SHARDS`` reply (RESP2 or RESP3); shards without slots or
    without a healthy primary are left out."""
    shards: list[Shard] = []
    for raw in reply:
        shard = _as_mapping(raw)
        bounds: list[Any] = shard.get("slots") or []
        flat = [int(bound) for bound in bounds]
        ranges = tuple(zip(flat[::2], flat[1::2], strict=True))
        entries: list[Any] = shard.get("nodes") or []
        nodes = [_as_mapping(node) for node in entries]
        primaries = [
            _node_of(n, seed_host)
            for n in nodes
            if _text(n.get("role")) == "master" and _text(n.get("health", "online")) != "fail"
        ]
        if not ranges or not primaries:
            continue
        replicas = tuple(
            _node_of(n, seed_host)
            for n in nodes
            if _text(n.get("role")) != "master" and _text(n.get("health", "online")) == "online"
        )
        shards.append(Shard(primaries[0], replicas, ranges))
    return shards


def parse_slots(reply: Sequence[Any], seed_host: str = "127.0.0.1") -> list[Shard]:
    """The shards of a ``CLUSTER SLOTS`` reply (one entry per range; ranges of one
    primary are merged)."""
    by_primary: dict[Node, tuple[list[tuple[int, int]], tuple[Node, ...]]] = {}
    for entry in reply:
        start, end, *nodes = entry
        parsed = [_slots_node(node, seed_host, index == 0) for index, node in enumerate(nodes)]
        if not parsed:
            continue
        ranges, _ = by_primary.setdefault(parsed[0], ([], tuple(parsed[1:])))
        ranges.append((int(start), int(end)))
    return [
        Shard(primary, replicas, tuple(sorted(ranges)))
        for primary, (ranges, replicas) in by_primary.items()
    ]


def _slots_node(node: Sequence[Any], seed_host: str, primary: bool) -> Node:
    host = _text(node[0]) if node[0] not in {None, "", b"", "?", b"?"} else seed_host
    node_id = _text(node[2]) if len(node) > 2 else ""  # noqa: PLR2004 -- [ip, port, id, ...]
    return Node(host, int(node[1]), node_id, primary)


class SlotTable:
    """Which shard serves each slot; MOVED patches one slot at once."""

    def __init__(self, shards: Sequence[Shard] = ()) -> None:
        self.shards: list[Shard] = list(shards)
        self._owner: list[Shard | None] = [None] * SLOTS
        for shard in self.shards:
            for start, end in shard.ranges:
                for slot in range(start, end + 1):
                    self._owner[slot] = shard

    def __bool__(self) -> bool:
        return bool(self.shards)

    def shard_for(self, slot: int) -> Shard | None:
        return self._owner[slot]

    def covered(self) -> int:
        """How many slots have an owner."""
        return sum(owner is not None for owner in self._owner)

    def primaries(self) -> list[Node]:
        """Every primary, in the order of the slots they serve."""
        return [shard.primary for shard in sorted(self.shards, key=_first_slot)]

    def nodes(self) -> list[Node]:
        return [node for shard in self.shards for node in (shard.primary, *shard.replicas)]

    def move(self, slot: int, host: str, port: int) -> None:
        """A MOVED reply: ``slot`` is now served by ``host:port``."""
        for shard in self.shards:
            if (shard.primary.host, shard.primary.port) == (host, port):
                self._owner[slot] = shard
                return
        shard = Shard(Node(host, port), (), ((slot, slot),))
        self.shards.append(shard)
        self._owner[slot] = shard

    def signature(self) -> tuple[tuple[str, tuple[tuple[int, int], ...]], ...]:
        """What nodes must agree on: each primary's address and ranges."""
        return tuple(sorted((s.primary.address, tuple(sorted(s.ranges))) for s in self.shards))


def _first_slot(shard: Shard) -> int:
    return min((start for start, _ in shard.ranges), default=SLOTS)


def parse_address(address: str, what: str) -> tuple[str, int]:
    """``"host:port"`` -> ``("host", port)``; a bad one raises ValueError naming ``what``."""
    host, colon, port = address.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:  # noqa: PLR2004
        raise ValueError(f"{what}: {address!r} is not host:port")
    return host.strip("[]"), int(port)


class _Topology(Protocol):
    @property
    def mode(self) -> str: ...
    @property
    def db(self) -> int: ...
    @property
    def namespace(self) -> str | None: ...
    @property
    def cluster_nodes(self) -> tuple[str, ...]: ...
    @property
    def sentinels(self) -> tuple[str, ...]: ...
    @property
    def sentinel_master(self) -> str | None: ...


def check_topology(config: _Topology) -> None:
    """RedisConfig's rules for ``mode``: what a cluster refuses, what each mode needs."""
    for address in config.cluster_nodes:
        parse_address(address, "cluster_nodes")
    for address in config.sentinels:
        parse_address(address, "sentinels")
    if config.mode == "cluster":
        if not config.cluster_nodes:
            raise ValueError('cluster_nodes: mode="cluster" needs at least one host:port')
        if config.db != 0:
            raise ValueError("db: a Redis Cluster has only database 0")
        if config.namespace and ("{" in config.namespace or "}" in config.namespace):
            raise ValueError(
                "namespace: on a cluster it may not contain { or } (it would become every "
                "key's hash tag and put all keys in one slot); use hash_tag() in keys instead"
            )
    elif config.mode == "sentinel":
        if not config.sentinels:
            raise ValueError('sentinels: mode="sentinel" needs at least one host:port')
        if not config.sentinel_master:
            raise ValueError('sentinel_master: mode="sentinel" needs the master\'s name')
