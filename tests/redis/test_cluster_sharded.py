"""ShardedSubscription against scripted in-memory cluster nodes: refusals of SSUBSCRIBE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from anyservices.redis import RedisError, RedisPermissionError, RedisRedirectError
from anyservices.redis._keys import Keys
from anyservices.redis._sharded import ShardedSubscription
from anyservices.redis._slots import key_slot

from .test_cluster_client import opened
from .test_cluster_fakes import Conn, Error, FakeCluster

A, B = 7000, 7001


def channel_on(cluster: FakeCluster, port: int) -> str:
    return next(f"c{i}" for i in range(10_000) if cluster.owner(f"c{i}") is cluster.node(port))


def ssubscribe(answer: Callable[[str], Any]) -> Any:
    """A node handler answering SSUBSCRIBE with ``answer(channel)`` (a push or an error)."""

    def handle(conn: Conn, args: list[str]) -> Any:
        if args[0].upper() != "SSUBSCRIBE":
            return NotImplemented
        return answer(args[1])

    return handle


def confirm(name: str) -> list[Any]:
    return ["ssubscribe", name, 1]


async def test_tryagain_then_moved_then_subscribed() -> None:
    cluster = FakeCluster(A, B)
    channel = channel_on(cluster, A)
    moved = Error(f"MOVED {key_slot(channel)} 127.0.0.1:{B}")
    answers = iter([Error("TRYAGAIN try later"), moved])
    cluster.script(A, ssubscribe(lambda name: next(answers, confirm(name))))
    cluster.script(B, ssubscribe(confirm))
    async with opened(cluster) as client:
        subscription = ShardedSubscription(client, Keys(None))
        try:
            await subscription.open(channel)
            with anyio.fail_after(5):
                message = await subscription.get_message(timeout=None)
            assert message is not None
            assert (message.channel, message.kind) == (channel, "ssubscribe")
            assert subscription.reconnects == 2  # TRYAGAIN, then MOVED
            assert [a[0] for a in cluster.node(B).log if a[0] == "SSUBSCRIBE"] == ["SSUBSCRIBE"]
            await subscription.aclose()  # a loop left early: nothing closes
            with pytest.raises(RedisError, match="no patterns"):
                await subscription.psubscribe("c*")
        finally:
            await subscription.finish()


async def test_a_refusal_for_good_reaches_the_reader() -> None:
    cluster = FakeCluster(A, B)
    channel = channel_on(cluster, B)
    cluster.script(B, ssubscribe(lambda _name: Error("NOPERM no permissions to access a channel")))
    async with opened(cluster) as client:
        subscription = ShardedSubscription(client, Keys("ns"))
        try:
            await subscription.open(channel)
            with anyio.fail_after(5), pytest.raises(RedisPermissionError, match="NOPERM"):
                await subscription.get_message(timeout=None)
        finally:
            await subscription.finish()


async def test_an_unreachable_node_is_retried_with_a_backoff() -> None:
    cluster = FakeCluster(A, B)
    channel = channel_on(cluster, A)
    cluster.script(A, ssubscribe(confirm))
    async with opened(cluster) as client:
        subscription = ShardedSubscription(client, Keys(None))
        try:
            cluster.node(A).down = True
            await subscription.open()
            await subscription.subscribe(channel)  # the keeper tries, and tries again
            await anyio.sleep(0.2)
            assert await subscription.get_message(timeout=0) is None
            cluster.node(A).down = False
            with anyio.fail_after(5):
                message = await subscription.get_message(timeout=None)
            assert message is not None
            assert message.kind == "ssubscribe"
        finally:
            await subscription.finish()


async def test_a_slot_nobody_serves_fails_open_and_waits_later() -> None:
    cluster = FakeCluster(A, B)
    cluster.ranges["127.0.0.1:7000"] = [(0, 100)]  # the rest of A's slots: nobody's
    channel = next(f"c{i}" for i in range(1000) if 100 < key_slot(f"c{i}") < 8192)
    async with opened(cluster) as client:
        subscription = ShardedSubscription(client, Keys(None))
        try:
            with pytest.raises(RedisRedirectError, match="no node serves slot"):
                await subscription.open(channel)
        finally:
            await subscription.finish()


async def test_frames_and_ends_the_reader_never_sees() -> None:
    cluster = FakeCluster(A, B)
    channel = channel_on(cluster, A)
    cluster.script(A, ssubscribe(confirm))
    async with opened(cluster) as client:
        subscription = ShardedSubscription(client, Keys(None))
        try:
            await subscription.open(channel)
            await subscription.unsubscribe("never-subscribed")  # nothing to send
            link = subscription._links["127.0.0.1:7000"]
            drop = ["sunsubscribe", channel, 0]
            assert subscription._dropped(link, drop) is True  # the node gave the slot away
            assert channel not in subscription._bound
            assert subscription._dropped(link, drop) is True  # again: already being redone
            assert subscription._message("junk", ignore_confirmations=False) is None
            for _ in range(500):  # until the keeper subscribed it again
                if channel in subscription._bound:
                    break
                await anyio.sleep(0.01)
            link = subscription._bound[channel]
            link.closed = True  # as finish() marks it, while its connection ends
            await link.connection.aclose()
            await anyio.sleep(0.05)
            assert subscription._links["127.0.0.1:7000"] is link  # not forgotten: finish() has it
        finally:
            await subscription.finish()
