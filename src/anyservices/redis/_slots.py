"""Redis Cluster slots: CRC16, hash tags, the CLUSTER SHARDS/SLOTS replies and the routing table.

A key's slot is ``CRC16(key) mod 16384``, where only the part between the first ``{``
and the next ``}`` is hashed when that part is not empty (a *hash tag*): keys that share
a tag share a slot, which transactions, scripts and WATCH need on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, cast

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


# -- which arguments are keys ---------------------------------------------------------

Kind = Literal["keys", "any", "pubsub", "primaries", "scan", "refused"]


@dataclass(frozen=True, slots=True)
class Route:
    """Where a command goes: ``keys`` by the slot of its keys, ``any`` primary, the
    ``pubsub`` node (slot 0's primary: classic channels reach every node, and there the
    subscriber count PUBLISH returns is right), every one of the ``primaries`` (a
    broadcast), ``scan`` over the primaries, or ``refused``."""

    kind: Kind
    keys: tuple[Any, ...] = ()
    readonly: bool = False
    split: Literal["sum", "mget"] | None = None  # multi-key commands split by slot


@dataclass(frozen=True, slots=True)
class KeySpec:
    """COMMAND INFO's key positions: first, last (negative: from the end), step."""

    first: int
    last: int
    step: int = 1
    readonly: bool = False
    split: Literal["sum", "mget"] | None = None
    movable: bool = False

    def keys(self, args: Sequence[Any]) -> tuple[Any, ...]:
        if self.first <= 0 or len(args) <= self.first:
            return ()
        last = self.last if self.last >= 0 else len(args) + self.last
        return tuple(args[self.first : last + 1 : self.step])


def _specs(names: str, spec: KeySpec) -> dict[str, KeySpec]:
    return dict.fromkeys(names.split(), spec)


_ONE = KeySpec(1, 1)
_ONE_READ = KeySpec(1, 1, readonly=True)
COMMANDS: Final[dict[str, KeySpec]] = {
    **_specs(
        "SET SETNX SETEX PSETEX GETSET GETDEL GETEX INCR INCRBY DECR DECRBY INCRBYFLOAT "
        "APPEND SETRANGE SETBIT EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST HSET HSETNX HMSET "
        "HDEL HINCRBY HINCRBYFLOAT LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LSET LREM LTRIM LINSERT "
        "SADD SREM SPOP ZADD ZREM ZINCRBY ZREMRANGEBYSCORE ZREMRANGEBYRANK ZPOPMIN ZPOPMAX "
        "XADD XDEL XTRIM XACK XCLAIM XAUTOCLAIM XSETID PFADD RESTORE GEOADD",
        _ONE,
    ),
    **_specs(
        "GET STRLEN GETRANGE GETBIT BITCOUNT TTL PTTL EXPIRETIME PEXPIRETIME TYPE DUMP "
        "HGET HMGET HGETALL HKEYS HVALS HLEN HEXISTS HSTRLEN HSCAN HRANDFIELD LRANGE LLEN "
        "LINDEX LPOS SMEMBERS SISMEMBER SMISMEMBER SCARD SRANDMEMBER SSCAN ZRANGE ZRANGEBYSCORE "
        "ZREVRANGE ZREVRANGEBYSCORE ZSCORE ZMSCORE ZCARD ZRANK ZREVRANK ZCOUNT ZSCAN XLEN "
        "XRANGE XREVRANGE XPENDING GEOPOS GEODIST GEOSEARCH",
        _ONE_READ,
    ),
    **_specs("DEL UNLINK", KeySpec(1, -1, split="sum")),
    **_specs("EXISTS TOUCH", KeySpec(1, -1, readonly=True, split="sum")),
    "MGET": KeySpec(1, -1, readonly=True, split="mget"),
    **_specs("MSET MSETNX", KeySpec(1, -1, 2)),
    **_specs("WATCH SINTERSTORE SUNIONSTORE SDIFFSTORE PFMERGE", KeySpec(1, -1)),
    **_specs("SINTER SUNION SDIFF PFCOUNT", KeySpec(1, -1, readonly=True)),
    **_specs("RENAME RENAMENX SMOVE LMOVE RPOPLPUSH COPY", KeySpec(1, 2)),
    **_specs("BLPOP BRPOP BZPOPMIN BZPOPMAX", KeySpec(1, -2)),
    **_specs("EVAL EVALSHA FCALL", KeySpec(3, 0, movable=True)),
    **_specs("EVAL_RO EVALSHA_RO FCALL_RO", KeySpec(3, 0, readonly=True, movable=True)),
    **_specs("XREAD", KeySpec(0, 0, readonly=True, movable=True)),
    **_specs("XREADGROUP", KeySpec(0, 0, movable=True)),
    **_specs("XGROUP XINFO OBJECT MEMORY", KeySpec(2, 2, readonly=True)),
    "SPUBLISH": KeySpec(1, 1),
}
_ANY: Final = frozenset(
    "PING ECHO TIME INFO LASTSAVE CLIENT CONFIG COMMAND HELLO RANDOMKEY READONLY "  # noqa: SIM905 -- a word list
    "READWRITE ROLE LATENCY SLOWLOG ACL CLUSTER WAIT".split()
)
_READ_ANYWHERE: Final = frozenset({"PING", "ECHO", "TIME", "INFO", "RANDOMKEY"})
# Broadcast to every primary: KEYS joins the lists, DBSIZE adds up, the others say OK.
_PRIMARIES: Final = frozenset({"SCRIPT", "FLUSHDB", "FLUSHALL", "FUNCTION", "KEYS", "DBSIZE"})
# On a shared connection these would change its state for every other caller.
_REFUSED: Final = frozenset({"SELECT", "MULTI", "EXEC", "DISCARD", "UNWATCH", "ASKING"})


def route(args: Sequence[Any], name: str | None = None) -> Route | None:  # noqa: PLR0911 -- one return per kind
    """Where ``args`` goes on a cluster; None for a command this table does not know."""
    name = name or command_name(args)
    spec = COMMANDS.get(name)
    if spec is not None:
        keys = spec_keys(spec, name, args)
        if name in {"XGROUP", "XINFO", "OBJECT", "MEMORY"} and not keys:
            return Route("any", readonly=True)
        return Route("keys", keys, spec.readonly, spec.split if len(keys) > 1 else None)
    if name.startswith("FT."):
        return Route("refused")
    if name in {"PUBLISH", "PUBSUB"}:
        return Route("pubsub")
    if name == "SCAN":
        return Route("scan", readonly=True)
    if name in _ANY:
        return Route("any", readonly=name in _READ_ANYWHERE)
    if name in _PRIMARIES:
        return Route("primaries")
    if name in _REFUSED:
        return Route("refused")
    return None


def spec_keys(spec: KeySpec, name: str, args: Sequence[Any]) -> tuple[Any, ...]:
    """The keys of ``args`` per ``spec``: numkeys for scripts, STREAMS for XREAD."""
    if not spec.movable:
        return spec.keys(args)
    if name.startswith(("EVAL", "FCALL")):
        count = int(args[2]) if len(args) > 2 else 0  # noqa: PLR2004 -- [EVAL, script, numkeys]
        return tuple(args[3 : 3 + count])
    words = [_text(arg).upper() for arg in args]
    if "STREAMS" not in words:
        return ()
    rest = args[words.index("STREAMS") + 1 :]
    return tuple(rest[: len(rest) // 2])


def command_name(args: Sequence[Any]) -> str:
    if not args:
        return ""
    return _text(args[0]).upper()


def info_spec(reply: Sequence[Any]) -> KeySpec | None:
    """A KeySpec out of one COMMAND INFO entry ([name, arity, flags, first, last, step, ...])."""
    if not reply or len(reply) < 6:  # noqa: PLR2004 -- the legacy fields
        return None
    flags = {_text(flag) for flag in reply[2]}
    first, last, step = int(reply[3]), int(reply[4]), int(reply[5])
    return KeySpec(first, last, max(step, 1), "readonly" in flags, None, "movablekeys" in flags)
