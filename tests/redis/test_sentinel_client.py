"""SentinelClient against scripted in-memory sentinels and servers (no network)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from anyservices.redis import (
    RedisConfig,
    RedisConnectError,
    RedisConnectionLostError,
    RedisResponseError,
    _sentinel,
)
from anyservices.redis._client import RedisClient
from anyservices.redis._cluster import ClusterClient, client_for
from anyservices.redis._sentinel import SentinelClient

from .test_cluster_fakes import Conn, Drop, Error, FakeCluster, FakeNodeClient, Hang

S1, S2, M, R = 26500, 26501, 6500, 6501


class FakeSentinelClient(SentinelClient):
    def __init__(self, config: RedisConfig, fake: FakeCluster) -> None:
        super().__init__(config, logger=logging.getLogger("test"))
        self.fake = fake

    def _new_client(self, config: RedisConfig) -> RedisClient:
        return FakeNodeClient(config, self.fake)


def world(master: int = M) -> tuple[FakeCluster, dict[str, Any]]:
    fake = FakeCluster(S1, S2, M, R)
    state: dict[str, Any] = {"master": master, "role": {M: "master", R: "slave"}}

    def sentinel(conn: Conn, args: list[str]) -> Any:
        if args[0].upper() == "SENTINEL":
            return None if args[2] != "mymaster" else ["127.0.0.1", str(state["master"])]
        if args[0].upper() == "SUBSCRIBE":
            if state.get("drop_subscribe"):
                raise Drop
            raise Hang
        return NotImplemented

    def server(conn: Conn, args: list[str]) -> Any:
        port = int(conn.node.address.rsplit(":", 1)[1])
        if args[0].upper() == "ROLE":
            return [state["role"][port], 0, []]
        script = state.get("script")
        return NotImplemented if script is None else script(conn, args)

    for port in (S1, S2):
        fake.script(port, sentinel)
    for port in (M, R):
        fake.script(port, server)
    return fake, state


def config(**extra: Any) -> RedisConfig:
    return RedisConfig(
        mode="sentinel",
        sentinels=("127.0.0.1:1", f"127.0.0.1:{S1}", f"127.0.0.1:{S2}"),
        sentinel_master="mymaster",
        client_name=None,
        **extra,
    )


@asynccontextmanager
async def opened(fake: FakeCluster, **extra: Any) -> AsyncGenerator[FakeSentinelClient, None]:
    client = FakeSentinelClient(config(**extra), fake)
    async with anyio.create_task_group() as group:
        fake.group = group
        await client.open(group)
        try:
            yield client
        finally:
            await client.aclose()
            group.cancel_scope.cancel()


def test_client_for_picks_by_mode() -> None:
    logger = logging.getLogger("test")
    assert type(client_for(RedisConfig(), logger=logger)) is RedisClient
    cluster = RedisConfig(mode="cluster", cluster_nodes=("h:1",))
    assert isinstance(client_for(cluster, logger=logger), ClusterClient)
    assert isinstance(client_for(config(), logger=logger), SentinelClient)


async def test_the_master_is_asked_for_and_checked() -> None:
    fake, state = world()
    async with opened(fake) as client:
        assert await client.execute("SET", "k", "v") == "OK"
        assert fake.node(M).data == {"k": "v"}
        assert client.master == ("127.0.0.1", M)
        assert client.switches == 0
        async with client.dedicated() as own:  # WATCH's kind: a connection of its own
            assert await own.execute(("PING",)) == "PONG"
        state["role"][M] = "slave"  # demoted: the next connection must refuse it
        await client._drop_connections()
        with pytest.raises(RedisConnectError, match="is a slave now"):
            async with client.dedicated():
                pass


async def test_a_switch_moves_every_connection() -> None:
    fake, state = world()
    async with opened(fake) as client:
        async with client.dedicated(push=True) as subscribed:
            await client.execute("SET", "k", "1")
            state["master"] = R
            state["role"] = {M: "slave", R: "master"}
            await client._on_push(["message", "+switch-master", "other 127.0.0.1 1 127.0.0.1 2"])
            await client._on_push(["subscribe", "+switch-master", 1])
            await client._on_push("not a frame")
            assert client.switches == 0
            await client._on_push(
                ["message", "+switch-master", f"mymaster 127.0.0.1 {M} 127.0.0.1 {R}"]
            )
            assert client.switches == 1
            assert subscribed.broken  # subscriptions reconnect to the new master
            state["master"] = M  # a sentinel that has not heard of the switch yet
            with pytest.raises(RedisConnectError, match=f"still names 127.0.0.1:{M}"):
                await client.locate()
            state["master"] = R
            assert subscribed.pushes is not None
            subscribed.pushes.close()
        assert await client.execute("SET", "k", "2") == "OK"
        assert fake.node(R).data == {"k": "2"}


async def test_readonly_and_noreplicas_look_the_master_up_again() -> None:
    fake, state = world()
    refusals = iter([Error("READONLY You can't write against a read only replica."),
                     Error("NOREPLICAS Not enough good replicas to write.")])  # fmt: skip

    def script(conn: Conn, args: list[str]) -> Any:
        if args[0] == "SET":
            return next(refusals, NotImplemented)
        if args[0] == "GET":
            return Error("WRONGTYPE not a string")
        return NotImplemented

    state["script"] = script
    async with opened(fake) as client:
        assert await client.execute("SET", "k", "v") == "OK"
        with pytest.raises(RedisResponseError, match="WRONGTYPE"):
            await client.execute("GET", "k")
        state["script"] = readonly
        replies = await client.execute_many([("SET", "k", "v"), ("PING",)])
        assert isinstance(replies[0], RedisResponseError)
        assert replies[1] == "PONG"


async def test_lost_connections_and_unreachable_masters() -> None:
    fake, state = world()
    dropped = {"INCR": True}

    def script(conn: Conn, args: list[str]) -> Any:
        if dropped.get(args[0]):
            dropped[args[0]] = False
            conn.node.default(args)
            raise Drop
        return NotImplemented

    state["script"] = script
    async with opened(fake, cluster_retry_timeout=0.2) as client:
        with pytest.raises(RedisConnectionLostError):
            await client.execute("INCR", "n")
        dropped["GET"] = True
        assert await client.execute("GET", "n") == "1"  # a read is sent again
        await client._drop_connections()
        fake.node(M).down = True
        with pytest.raises(RedisConnectError, match="refused"):
            await client.execute("GET", "n")
        with pytest.raises(RedisConnectError, match="refused"):
            await client.execute_many([("GET", "n")])
        fake.node(M).down = False
        dropped["GET"] = True
        with pytest.raises(RedisConnectError):
            await client.execute_many([("GET", "n")])  # sent, then lost: not resent here


async def test_an_old_connection_closes_once_its_replies_are_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_sentinel, "_RETIRE_WAIT", 0.05)
    fake, state = world()
    state["script"] = hang_on_get
    async with opened(fake, cluster_retry_timeout=0.3) as client:
        await client.execute("PING")
        async with anyio.create_task_group() as group:
            group.start_soon(_expect_lost, client)
            await anyio.sleep(0.02)
            state["script"] = None
            await client._drop_connections()  # the GET still waits: closed after 50 ms


def hang_on_get(conn: Conn, args: list[str]) -> Any:
    if args[0] == "GET":
        raise Hang
    return NotImplemented


def readonly(conn: Conn, args: list[str]) -> Any:
    return Error("READONLY replica") if args[0] == "SET" else NotImplemented


async def _expect_lost(client: FakeSentinelClient) -> None:
    assert await client.execute("GET", "k") is None  # a read: sent again after the close


async def test_switch_listener_moves_on_when_a_sentinel_hangs_up() -> None:
    fake, state = world()
    state["drop_subscribe"] = True
    async with opened(fake) as client:
        await anyio.sleep(0.3)  # the listener: port 1 (down), S1 (hangs up), then S2
        assert fake.node(S2).connections >= 1  # only the listener goes there: S1 answered
        assert await client.execute("PING") == "PONG"
