"""Slots: CRC16, hash tags, CLUSTER SHARDS/SLOTS parsing (RESP2 and RESP3), the routing table."""

from __future__ import annotations

from typing import Any, cast

import pytest

from anyservices.redis import hash_tag
from anyservices.redis._slots import (
    SLOTS,
    KeySpec,
    Node,
    Route,
    Shard,
    SlotTable,
    command_name,
    crc16,
    info_spec,
    key_slot,
    parse_shards,
    parse_slots,
    route,
)


def test_crc16_reference_values() -> None:
    assert crc16(b"123456789") == 0x31C3  # the XModem check value
    assert crc16(b"") == 0


@pytest.mark.parametrize(
    ("key", "slot"),
    [
        ("foo", 12182),
        ("{user1}.a", 8106),
        ("{user1}.b", 8106),
        ("user1", 8106),
        ("foo{}{bar}", key_slot(b"foo{}{bar}")),
        (b"foo", 12182),
        ("123", key_slot(b"123")),
    ],
)
def test_key_slot(key: str | bytes, slot: int) -> None:
    assert key_slot(key) == slot


def test_hash_tag_rules() -> None:
    # An empty tag hashes the whole key; only the first {...} counts.
    assert key_slot("foo{}{bar}") == crc16(b"foo{}{bar}") % SLOTS
    assert key_slot("foo{{bar}}zap") == crc16(b"{bar") % SLOTS
    assert key_slot("foo{bar}{zap}") == key_slot("bar")
    assert key_slot("no-close{brace") == crc16(b"no-close{brace") % SLOTS
    assert key_slot(123) == key_slot("123")
    assert key_slot(1.5) == key_slot("1.5")
    assert key_slot("é") == crc16("é".encode()) % SLOTS


def test_hash_tag_builds_keys_of_one_slot() -> None:
    assert hash_tag("user1", "cart") == "{user1}:cart"
    assert hash_tag("user1") == "{user1}"
    assert key_slot(hash_tag("user1", "a")) == key_slot(hash_tag("user1", "b", "c")) == 8106
    for bad in ("", "a{b", "a}b"):
        with pytest.raises(ValueError, match="tag"):
            hash_tag(bad, "x")


def _shards_resp3() -> list[Any]:
    return [
        {
            "slots": [0, 5460],
            "nodes": [
                {"id": "a" * 40, "port": 7000, "ip": "127.0.0.1", "endpoint": "127.0.0.1",
                 "role": "master", "replication-offset": 1, "health": "online"},
                {"id": "d" * 40, "port": 7003, "ip": "127.0.0.1", "endpoint": "127.0.0.1",
                 "role": "replica", "replication-offset": 1, "health": "online"},
                {"id": "e" * 40, "port": 7004, "ip": "127.0.0.1", "endpoint": "127.0.0.1",
                 "role": "replica", "replication-offset": 0, "health": "loading"},
            ],
        },
        {
            "slots": [5461, 10922, 12000, 12001],
            "nodes": [{"id": "b" * 40, "port": 7001, "ip": "", "role": "master"}],
        },
        {"slots": [], "nodes": [{"id": "c" * 40, "port": 7009, "role": "master"}]},
        {"slots": [12002, 12002], "nodes": [{"id": "g" * 40, "port": 7006, "ip": "?",
                                             "role": "master"}]},
        {"slots": [10923, 11999], "nodes": [{"id": "f", "port": 7002, "role": "master",
                                             "health": "fail"}]},
    ]  # fmt: skip


def _as_resp2(value: Any) -> Any:
    """RESP2 sends maps as flat lists of bytes names and values."""
    if isinstance(value, dict):
        flat: list[Any] = []
        for name, item in cast("dict[str, Any]", value).items():
            flat += [name.encode(), _as_resp2(item)]
        return flat
    if isinstance(value, list):
        return [_as_resp2(item) for item in cast("list[object]", value)]
    return value.encode() if isinstance(value, str) else value


@pytest.mark.parametrize("protocol", [2, 3])
def test_parse_shards(protocol: int) -> None:
    reply = _shards_resp3() if protocol == 3 else _as_resp2(_shards_resp3())
    shards = parse_shards(reply, seed_host="10.0.0.1")
    assert len(shards) == 3  # without slots or without a healthy primary: left out
    first, second, third = shards
    assert first.primary == Node("127.0.0.1", 7000, "a" * 40, primary=True)
    assert first.replicas == (Node("127.0.0.1", 7003, "d" * 40, primary=False),)
    assert first.ranges == ((0, 5460),)
    assert second.primary.address == "10.0.0.1:7001"  # no ip: the seed's host
    assert second.ranges == ((5461, 10922), (12000, 12001))
    assert third.primary.address == "10.0.0.1:7006"  # "?": the node does not know its address


@pytest.mark.parametrize("protocol", [2, 3])
def test_parse_slots(protocol: int) -> None:
    meta: Any = {"hostname": "x"} if protocol == 3 else [b"hostname", b"x"]
    reply: list[Any] = [
        [0, 100, [b"127.0.0.1", 7000, b"a" * 40, meta], [b"127.0.0.1", 7003, b"d" * 40, meta]],
        [101, 200, [b"", 7001, b"b" * 40]],
        [300, 400, [b"127.0.0.1", 7000, b"a" * 40, meta], [b"127.0.0.1", 7003, b"d" * 40, meta]],
        [500, 600],
        [700, 800, ["?", 7002]],
    ]
    shards = {s.primary.address: s for s in parse_slots(reply, seed_host="10.0.0.1")}
    assert set(shards) == {"127.0.0.1:7000", "10.0.0.1:7001", "10.0.0.1:7002"}
    assert shards["127.0.0.1:7000"].ranges == ((0, 100), (300, 400))
    assert shards["127.0.0.1:7000"].replicas == (Node("127.0.0.1", 7003, "d" * 40, primary=False),)
    assert shards["10.0.0.1:7002"].primary.node_id == ""


def test_slot_table_routes_and_patches() -> None:
    a = Shard(Node("h", 1), (Node("h", 4, primary=False),), ((0, 9999),))
    b = Shard(Node("h", 2), (), ((10000, SLOTS - 1),))
    table = SlotTable([b, a])
    assert table
    assert not SlotTable()
    assert table.covered() == SLOTS
    assert table.shard_for(0) is a
    assert table.shard_for(SLOTS - 1) is b
    assert [n.port for n in table.primaries()] == [1, 2]
    assert [n.port for n in table.nodes()] == [2, 1, 4]
    before = table.signature()
    table.move(5, "h", 2)  # MOVED to a known primary
    assert table.shard_for(5) is b
    table.move(6, "h", 3)  # MOVED to a node the table does not know yet
    moved = table.shard_for(6)
    assert moved is not None
    assert moved.primary.address == "h:3"
    assert table.signature() != before
    assert SlotTable([a]).covered() == 10000
    assert SlotTable([a]).shard_for(SLOTS - 1) is None
    assert SlotTable([Shard(Node("h", 9))]).primaries()[0].port == 9


def test_routes_of_the_odd_commands() -> None:
    assert route(("XINFO", "HELP")) == Route("any", readonly=True)
    assert route(("XINFO", "STREAM", "s")) == Route("keys", ("s",), readonly=True)
    assert route(("PUBSUB", "CHANNELS")) == Route("pubsub")
    assert route(("PUBLISH", "ch", "m")) == Route("pubsub")
    assert route(("XREAD", "COUNT", 1)) == Route("keys", (), readonly=True)
    assert route(("EVAL", "return 1")) == Route("keys", ())
    assert route(("FLUSHDB",)) == Route("primaries")
    assert route(("NOSUCH",)) is None
    assert command_name(()) == ""
    assert info_spec([]) is None
    assert info_spec(["get", 2, ["readonly"], 1, 1, 1]) == KeySpec(1, 1, 1, readonly=True)
    assert KeySpec(1, 1).keys(("GET",)) == ()
