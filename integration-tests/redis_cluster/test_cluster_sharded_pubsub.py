"""Sharded pub/sub (spublish, ssubscribe) on a single server, through Sentinel and on a
cluster, every face; and on a PRIVATE cluster while the channel's slot moves or its shard
fails over. Bounded in count and time."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import pytest

from anyservices.devservers._probes import redis_command
from anyservices.redis import Message, RedisConfig, RedisError, RedisService, Subscription
from anyservices.redis._slots import key_slot, parse_shards
from anyservices.testing import Face, open_face

pytestmark = pytest.mark.timeout(60)

CHANNELS = [f"ch{i}" for i in range(6)]  # over the three primaries of a cluster


def topology_config(kind: str, request: pytest.FixtureRequest) -> RedisConfig:
    namespace = f"sp-{uuid.uuid4().hex[:10]}"
    name = f"sharded-{uuid.uuid4().hex[:10]}"  # to find (and kill) our own connections
    if kind == "standalone":
        env: dict[str, str] = request.getfixturevalue("redis_env")
        return RedisConfig(port=int(env["ANYSERVICES_REDIS_URL"].rsplit(":", 1)[1].split("/")[0]),
                           namespace=namespace, client_name=name)  # fmt: skip
    if kind == "cluster":
        env = request.getfixturevalue("redis_cluster_env")
        nodes = tuple(env["ANYSERVICES_REDIS_CLUSTER_NODES"].split(","))
        return RedisConfig(mode="cluster", cluster_nodes=nodes, namespace=namespace,
                           client_name=name)  # fmt: skip
    env = request.getfixturevalue("redis_sentinel_env")
    sentinels = tuple(env["ANYSERVICES_REDIS_SENTINELS"].split(","))
    return RedisConfig(mode="sentinel", sentinels=sentinels,
                       sentinel_master=env["ANYSERVICES_REDIS_SENTINEL_MASTER"],
                       namespace=namespace, client_name=name)  # fmt: skip


async def confirmations(subscription: Subscription, count: int) -> list[Message]:
    """The first ``count`` frames: the server's confirmations."""
    seen: list[Message] = []
    with anyio.fail_after(10):
        while len(seen) < count:
            message = await subscription.get_message(timeout=5)
            assert message is not None
            seen.append(message)
    return seen


async def delivered(redis: RedisService, subscription: Subscription, channel: str) -> int:
    """SPUBLISH to ``channel`` until one of its messages arrives (the channel may be
    subscribing again: the subscription does that by itself); how many publishes it took.

    A subscriber on a shard's replica gets the message though SPUBLISH counts only the
    primary's subscribers, so the count says only how long to wait for it."""
    with anyio.fail_after(20):
        for attempt in range(1, 400):
            receivers = await redis.spublish(channel, f"m{attempt}")
            wait = 5.0 if receivers else 0.05
            while message := await subscription.get_message(
                ignore_subscribe_messages=True, timeout=wait
            ):
                if message.channel == channel:
                    assert message.kind == "smessage"
                    assert str(message.data).startswith("m")
                    return attempt
    raise AssertionError(f"nothing arrived on {channel}")


def our_connections(config: RedisConfig, ports: list[int]) -> list[tuple[int, str]]:
    """``(port, client id)`` of this config's pub/sub connections on ``ports``."""
    found: list[tuple[int, str]] = []
    for port in ports:
        listing = redis_command(port, "CLIENT", "LIST")
        assert isinstance(listing, bytes)
        for line in listing.decode().splitlines():
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            if fields.get("name") == config.client_name and fields.get("ssub", "0") != "0":
                found.append((port, fields["id"]))
    return found


def data_ports(config: RedisConfig) -> list[int]:
    if config.mode == "cluster":
        return [int(a.rsplit(":", 1)[1]) for a in config.cluster_nodes]
    if config.mode == "sentinel":
        reply = redis_command(int(config.sentinels[0].rsplit(":", 1)[1]), "SENTINEL",
                              "GET-MASTER-ADDR-BY-NAME", config.sentinel_master or "")  # fmt: skip
        assert isinstance(reply, list)
        port = reply[1]
        assert isinstance(port, bytes)
        return [int(port)]
    return [config.port]


@pytest.mark.parametrize("kind", ["standalone", "cluster", "sentinel"])
async def test_spublish_and_ssubscribe(
    face: Face, kind: str, request: pytest.FixtureRequest
) -> None:
    config = topology_config(kind, request)
    async with open_face(face, RedisService(config)) as redis:
        assert await redis.spublish("nobody", "x") == 0
        async with redis.ssubscribe(*CHANNELS) as subscription:
            seen = await confirmations(subscription, len(CHANNELS))
            assert sorted(m.channel for m in seen) == CHANNELS
            assert {m.kind for m in seen} == {"ssubscribe"}
            assert await subscription.get_message(timeout=0) is None  # nothing published yet
            for channel in CHANNELS:
                assert await redis.spublish(channel, f"to {channel}") == 1
            got: list[Message] = []
            with anyio.fail_after(10):
                async for message in subscription:  # iteration skips confirmations
                    got.append(message)
                    if len(got) == len(CHANNELS):
                        break
            assert sorted((m.channel, m.data, m.kind) for m in got) == [
                (c, f"to {c}", "smessage") for c in CHANNELS
            ]
            assert await redis.publish(CHANNELS[0], "classic") == 0  # another namespace
            await subscription.unsubscribe(CHANNELS[0])
            gone = await subscription.get_message(timeout=5)
            assert gone is not None
            assert (gone.channel, gone.kind) == (CHANNELS[0], "sunsubscribe")
            assert await redis.spublish(CHANNELS[0], "late") == 0
            await subscription.subscribe("later")
            assert [m.channel for m in await confirmations(subscription, 1)] == ["later"]
            assert await delivered(redis, subscription, "later") == 1
            with pytest.raises(RedisError, match="no patterns"):
                await subscription.psubscribe("ch*")
            # Our connections are killed (a restart, a proxy): subscribed again, at once.
            killed = our_connections(config, data_ports(config))
            assert killed
            for port, client_id in killed:
                assert redis_command(port, "CLIENT", "KILL", "ID", client_id) == 1
            for channel in CHANNELS[1:]:
                await delivered(redis, subscription, channel)
            assert subscription.reconnects >= 1
            assert await subscription.get_message(ignore_subscribe_messages=True, timeout=0) is None


# -- a private cluster whose slots move (see conftest.py) ----------------------------------


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def owner(nodes: list[str], slot: int) -> Any:
    return next(
        s
        for s in parse_shards(redis_command(_port(nodes[0]), "CLUSTER", "SHARDS"))  # type: ignore[arg-type]
        if any(a <= slot <= b for a, b in s.ranges)
    )


def empty_slot_channel(nodes: list[str], namespace: str) -> tuple[str, int]:
    """A channel whose slot holds no key (so moving it needs no MIGRATE)."""
    for index in range(1000):
        channel = f"moving{index}"
        slot = key_slot(f"{namespace}:{channel}")
        if redis_command(owner(nodes, slot).primary.port, "CLUSTER", "COUNTKEYSINSLOT",
                         str(slot)) == 0:  # fmt: skip
            return channel, slot
    raise AssertionError("no empty slot")


def move_slot(nodes: list[str], slot: int, target: Any) -> None:
    """Give ``slot`` (empty) to ``target``, as a reshard does: IMPORTING, MIGRATING, NODE."""
    source = owner(nodes, slot).primary
    if source.port == target.port:
        return
    assert redis_command(target.port, "CLUSTER", "SETSLOT", str(slot), "IMPORTING",
                         source.node_id) == b"OK"  # fmt: skip
    assert redis_command(source.port, "CLUSTER", "SETSLOT", str(slot), "MIGRATING",
                         target.node_id) == b"OK"  # fmt: skip
    for port in (target.port, source.port):
        assert redis_command(port, "CLUSTER", "SETSLOT", str(slot), "NODE", target.node_id) == b"OK"


async def test_ssubscribe_follows_a_moved_slot(face: Face, cluster: list[str]) -> None:
    namespace = f"mv-{uuid.uuid4().hex[:8]}"
    channel, slot = empty_slot_channel(cluster, namespace)
    config = RedisConfig(mode="cluster", cluster_nodes=tuple(cluster), namespace=namespace)
    async with (
        open_face(face, RedisService(config)) as redis,
        redis.ssubscribe(channel, "steady") as subscription,
    ):
        await confirmations(subscription, 2)
        assert await delivered(redis, subscription, channel) == 1
        home = owner(cluster, slot).primary
        shards = parse_shards(redis_command(home.port, "CLUSTER", "SHARDS"))  # type: ignore[arg-type]
        away = next(s.primary for s in shards if s.primary.port != home.port)
        before = subscription.reconnects
        try:
            move_slot(cluster, slot, away)  # the old node says sunsubscribe
            await delivered(redis, subscription, channel)
            assert subscription.reconnects > before
            assert await delivered(redis, subscription, "steady") == 1  # untouched
        finally:
            move_slot(cluster, slot, home)  # the cluster stays as the other tests expect
        await delivered(redis, subscription, channel)  # and back again


async def test_ssubscribe_follows_a_failover(face: Face, cluster: list[str]) -> None:
    namespace = f"fo-{uuid.uuid4().hex[:8]}"
    config = RedisConfig(mode="cluster", cluster_nodes=tuple(cluster), namespace=namespace)
    channel = "failing-over"
    slot = key_slot(f"{namespace}:{channel}")
    async with (
        open_face(face, RedisService(config)) as redis,
        redis.ssubscribe(channel) as subscription,
    ):
        await confirmations(subscription, 1)
        shard = owner(cluster, slot)
        for _ in range(200):  # a replica that never synced cannot take over
            if shard.replicas:
                break
            await anyio.sleep(0.1)
            shard = owner(cluster, slot)
        replica = shard.replicas[0]
        for _ in range(200):  # in sync with its primary (a previous failover settles)
            info = redis_command(replica.port, "INFO", "replication")
            if isinstance(info, bytes) and b"master_link_status:up" in info:
                break
            await anyio.sleep(0.1)
        for how in ((), ("FORCE",)):  # a manual failover that times out: forced, then
            assert redis_command(replica.port, "CLUSTER", "FAILOVER", *how) == b"OK"
            for _ in range(100):
                if owner(cluster, slot).primary.port == replica.port:
                    break
                await anyio.sleep(0.05)
            else:
                continue
            break
        else:
            raise AssertionError("the replica did not take over")
        await delivered(redis, subscription, channel)
        assert subscription.reconnects >= 1
