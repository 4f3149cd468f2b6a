"""ClusterClient against scripted in-memory nodes: routing, redirects, retries, pipelines."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from anyservices.redis import (
    RedisConnectError,
    RedisConnectionLostError,
    RedisCrossSlotError,
    RedisError,
    RedisRedirectError,
    RedisResponseError,
)
from anyservices.redis._slots import key_slot

from .test_cluster_fakes import Conn, Drop, Error, FakeCluster, FakeClusterClient, cluster_config

A, B, C = 7000, 7001, 7002


@asynccontextmanager
async def opened(cluster: FakeCluster, **extra: Any) -> AsyncGenerator[FakeClusterClient, None]:
    client = FakeClusterClient(
        cluster_config(*(int(a.rsplit(":")[1]) for a in cluster.nodes), **extra), cluster
    )
    async with anyio.create_task_group() as group:
        await client.open(group)
        try:
            yield client
        finally:
            await client.aclose()
            group.cancel_scope.cancel()


def owner_port(client: FakeClusterClient, key: str) -> int:
    shard = client._table.shard_for(key_slot(key))
    assert shard is not None
    return shard.primary.port


def key_on(cluster: FakeCluster, port: int, prefix: str = "k") -> str:
    """A key whose slot the node on ``port`` serves."""
    return next(
        f"{prefix}{i}" for i in range(10_000) if cluster.owner(f"{prefix}{i}") is cluster.node(port)
    )


async def test_routes_by_slot_and_splits_multi_key_commands() -> None:
    cluster = FakeCluster(A, B)
    async with opened(cluster) as client:
        a, b = key_on(cluster, A), key_on(cluster, B)
        assert await client.execute("SET", a, "1") == "OK"
        assert await client.execute("SET", b, "2") == "OK"
        assert cluster.node(A).data == {a: "1"}
        assert cluster.node(B).data == {b: "2"}
        assert await client.execute("MGET", b, "nope", a) == ["2", None, "1"]
        assert await client.execute("EXISTS", a, b, a) == 3
        assert await client.execute("DEL", a, b) == 2
        assert await client.execute("DEL", a) == 0
        assert await client.execute("PING") == "PONG"
        stats = client.node_statistics()
        assert set(stats) == {"127.0.0.1:7000", "127.0.0.1:7001"}
        assert client.statistics().commands_sent == sum(s.commands_sent for s in stats.values())


async def test_moved_patches_the_slot_at_once() -> None:
    cluster = FakeCluster(A, B)
    a = key_on(cluster, A)
    slot = key_slot(a)

    def moved(conn: Conn, args: list[str]) -> Any:
        if args[0] in {"GET", "SET"}:
            return Error(f"MOVED {slot} 127.0.0.1:{B}")
        return NotImplemented

    async with opened(cluster) as client:
        cluster.script(A, moved)
        assert await client.execute("SET", a, "x") == "OK"
        assert await client.execute("GET", a) == "x"
        assert cluster.node(B).data == {a: "x"}
        assert [c[0] for c in cluster.node(A).log].count("SET") == 1
        assert [c[0] for c in cluster.node(A).log].count("GET") == 0  # patched: straight to B
        assert client.redirects == 1


async def test_ask_sends_asking_and_the_command_back_to_back() -> None:
    cluster = FakeCluster(A, B)
    a = key_on(cluster, A)

    def importing(conn: Conn, args: list[str]) -> Any:
        if args[0] == "GET" and not conn.asking:
            return Error(f"MOVED {key_slot(a)} 127.0.0.1:{A}")
        return NotImplemented

    async with opened(cluster) as client:
        cluster.script(
            A,
            lambda conn, args: (
                Error(f"ASK {key_slot(a)} 127.0.0.1:{B}") if args[0] == "GET" else NotImplemented
            ),
        )
        cluster.script(B, importing)
        cluster.node(B).data[a] = "migrated"
        assert await client.execute("GET", a) == "migrated"
        log = cluster.node(B).log
        assert log[-2:] == [["ASKING"], ["GET", a]]
        assert owner_port(client, a) == A


async def test_a_redirect_loop_ends_with_redirect_error_within_the_budget() -> None:
    cluster = FakeCluster(A, B)
    a = key_on(cluster, A)
    slot = key_slot(a)
    cluster.script(
        A,
        lambda conn, args: (
            Error(f"MOVED {slot} 127.0.0.1:{B}") if args[0] == "GET" else NotImplemented
        ),
    )
    cluster.script(
        B,
        lambda conn, args: (
            Error(f"MOVED {slot} 127.0.0.1:{A}") if args[0] == "GET" else NotImplemented
        ),
    )
    async with opened(cluster, cluster_retry_timeout=0.3) as client:
        with pytest.raises(RedisRedirectError, match="redirects") as caught:
            await client.execute("GET", a)
        assert caught.value.maybe_executed is False
        assert client.redirects > 2


async def test_tryagain_and_clusterdown_are_retried_within_the_budget() -> None:
    cluster = FakeCluster(A)
    refusals = iter(
        [Error("TRYAGAIN rehashing"), Error("CLUSTERDOWN The cluster is down"), Error("LOADING")]
    )

    def flaky(conn: Conn, args: list[str]) -> Any:
        if args[0] == "GET":
            return next(refusals, NotImplemented)
        return NotImplemented

    cluster.script(A, flaky)
    async with opened(cluster) as client:
        assert await client.execute("GET", "k") is None
        cluster.script(
            A,
            lambda conn, args: (
                Error("CLUSTERDOWN The cluster is down") if args[0] == "GET" else NotImplemented
            ),
        )
    async with opened(cluster, cluster_retry_timeout=0.2) as client:
        with pytest.raises(RedisRedirectError, match=r"within 0\.2 s: CLUSTERDOWN"):
            await client.execute("GET", "k")
        cluster.script(
            A, lambda conn, args: Error("WRONGTYPE no") if args[0] == "GET" else NotImplemented
        )
        with pytest.raises(RedisResponseError, match="WRONGTYPE"):
            await client.execute("GET", "k")
        cluster.script(
            A,
            lambda conn, args: (
                Error("CROSSSLOT Keys in request don't hash to the same slot")
                if args[0] == "GET"
                else NotImplemented
            ),
        )
        with pytest.raises(RedisCrossSlotError):
            await client.execute("GET", "k")


async def test_a_sent_write_is_never_resent_but_a_read_is() -> None:
    cluster = FakeCluster(A)
    drops = {"INCR": 1, "GET": 1}

    def dropping(conn: Conn, args: list[str]) -> Any:
        if drops.get(args[0], 0) > 0:
            drops[args[0]] -= 1
            if args[0] == "INCR":
                conn.node.default(args)  # it ran, then the connection broke
            raise Drop
        return NotImplemented

    cluster.script(A, dropping)
    async with opened(cluster) as client:
        with pytest.raises(RedisConnectionLostError) as caught:
            await client.execute("INCR", "n")
        assert caught.value.maybe_executed is True
        assert isinstance(caught.value, RedisConnectError)
        assert cluster.node(A).data["n"] == "1"  # applied once, not twice
        assert await client.execute("GET", "n") == "1"  # the read was sent again


async def test_an_unreachable_node_sends_the_command_to_another_primary() -> None:
    cluster = FakeCluster(A, B)
    a = key_on(cluster, A)
    async with opened(cluster) as client:
        await client.aclose()  # forget the connections: the next call connects again
        cluster.node(A).down = True
        cluster.script(B, lambda conn, args: NotImplemented)
        assert await client.execute("SET", a, "v") == "OK"  # B took over A's slots
        assert cluster.node(B).data == {a: "v"}


async def test_a_slot_nobody_serves_waits_then_fails() -> None:
    cluster = FakeCluster(A)
    cluster.ranges["127.0.0.1:7000"] = [(0, 100)]
    async with opened(cluster, cluster_retry_timeout=0.1) as client:
        key = next(f"k{i}" for i in range(1000) if key_slot(f"k{i}") > 100)
        with pytest.raises(RedisRedirectError, match="no node serves slot"):
            await client.execute("GET", key)


async def test_pipelines_resend_only_the_refused_commands() -> None:
    cluster = FakeCluster(A, B)
    a, b = key_on(cluster, A), key_on(cluster, B, "j")
    moved_once = [True]

    def moved(conn: Conn, args: list[str]) -> Any:
        if args[0] == "SET" and moved_once[0]:
            moved_once[0] = False
            return Error(f"MOVED {key_slot(a)} 127.0.0.1:{B}")
        return NotImplemented

    cluster.script(A, moved)
    async with opened(cluster) as client:
        replies = await client.execute_many(
            [
                ("SET", a, "1"),
                ("INCR", a),
                ("SET", b, "2"),
                ("MGET", a, b),
                ("FT.SEARCH", "i"),
                ("GET", b),
            ]
        )
        assert replies[:4] == ["OK", 1, "OK", ["1", "2"]]
        assert isinstance(replies[4], RedisError)
        assert replies[5] == "2"
        assert [c[0] for c in cluster.node(A).log].count("INCR") == 1  # not resent


async def test_a_broken_pipeline_connection_reports_maybe_executed_writes() -> None:
    cluster = FakeCluster(A)

    def drop_on_get(conn: Conn, args: list[str]) -> Any:
        if args[0] == "GET" and not conn.node.data.get("dropped"):
            conn.node.data["dropped"] = "1"
            raise Drop
        return NotImplemented

    cluster.script(A, drop_on_get)
    async with opened(cluster) as client:
        replies = await client.execute_many([("INCR", "n"), ("GET", "n")])
        assert isinstance(replies[0], RedisConnectionLostError)
        assert replies[1] == "1"  # the read was resent


async def test_transactions_need_one_slot_and_are_resent_after_a_refusal() -> None:
    cluster = FakeCluster(A, B)
    a, b = key_on(cluster, A), key_on(cluster, B, "j")
    async with opened(cluster) as client:
        with pytest.raises(RedisCrossSlotError):
            await client.execute_many([("MULTI",), ("SET", a, "1"), ("SET", b, "2"), ("EXEC",)])
        with pytest.raises(RedisCrossSlotError):
            await client.execute_many([("MULTI",), ("SCAN", "0"), ("EXEC",)])
        assert all(c[0] != "MULTI" for c in cluster.node(A).log + cluster.node(B).log)
        refused = [True]

        def moved(conn: Conn, args: list[str]) -> Any:
            if args[0] == "SET" and refused[0]:
                refused[0] = False
                return Error(f"MOVED {key_slot(a)} 127.0.0.1:{B}")
            if args[0] == "EXEC" and not refused[0] and conn.node is cluster.node(A):
                return Error("EXECABORT Transaction discarded because of previous errors.")
            return NotImplemented

        cluster.script(A, moved)
        replies = await client.execute_many([("MULTI",), ("SET", a, "1"), ("EXEC",)])
        assert replies == ["OK", "OK", []]
        assert [c[0] for c in cluster.node(B).log][-3:] == ["MULTI", "SET", "EXEC"]


async def test_scan_broadcast_and_commands_outside_the_table() -> None:
    cluster = FakeCluster(A, B)

    def commands(conn: Conn, args: list[str]) -> Any:  # noqa: PLR0911 -- one per command
        name = args[0].upper()
        if name == "SCAN":
            return ["0", [f"{conn.node.address}-key"]]
        if name == "SCRIPT":
            return "sha"
        if name == "KEYS":
            return [f"{conn.node.address}-key"]
        if name == "DBSIZE":
            return 2
        if name == "COMMAND" and args[1].upper() == "INFO":
            known: dict[str, list[Any]] = {
                "LCS": ["lcs", 3, ["readonly"], 1, 2, 1],
                "SINTERCARD": ["sintercard", -3, ["readonly", "movablekeys"], 0, 0, 0],
                "NOKEYS": ["nokeys", 1, [], 0, 0, 0],
            }
            return [known.get(args[2].upper())]
        if name == "COMMAND" and args[1].upper() == "GETKEYS":
            return (
                args[4:]
                if args[2].upper() == "SINTERCARD"
                else Error("ERR The command has no key arguments")
            )
        if name in {"LCS", "SINTERCARD", "NOKEYS"}:
            return f"{name} on {conn.node.address}"
        return NotImplemented

    cluster.script(A, commands)
    cluster.script(B, commands)
    async with opened(cluster) as client:
        cursor, keys = await client.execute("SCAN", "0", "MATCH", "*")
        assert (cursor, keys) == ("1:0", ["127.0.0.1:7000-key"])
        assert await client.execute("SCAN", cursor) == ["0", ["127.0.0.1:7001-key"]]
        assert await client.execute("SCRIPT", "LOAD", "return 1") == "sha"
        assert all(any(c[0] == "SCRIPT" for c in n.log) for n in cluster.nodes.values())
        assert await client.execute("KEYS", "*") == ["127.0.0.1:7000-key", "127.0.0.1:7001-key"]
        assert await client.execute("DBSIZE") == 4
        a = key_on(cluster, A)
        assert await client.execute("LCS", a, a) == "LCS on 127.0.0.1:7000"
        assert await client.execute("SINTERCARD", 1, a) == "SINTERCARD on 127.0.0.1:7000"
        assert (await client.execute("NOKEYS")).startswith("NOKEYS on")
        with pytest.raises(RedisError, match="unknown command NOPE"):
            await client.execute("NOPE")
        with pytest.raises(RedisError, match="RediSearch"):
            await client.execute("FT.SEARCH", "idx", "*")
        with pytest.raises(RedisError, match="not available"):
            await client.execute("SELECT", 1)
        with pytest.raises(RedisCrossSlotError):
            await client.execute("MSET", a, "1", key_on(cluster, B), "2")


async def test_the_map_is_taken_from_the_majority_and_slots_is_a_fallback() -> None:
    cluster = FakeCluster(A, B, C)
    cluster.views["127.0.0.1:7002"] = {"127.0.0.1:7002": [(0, 16383)]}  # one node disagrees
    async with opened(cluster) as client:
        assert client.refreshes == 1
        assert {s.primary.port for s in client._table.shards} == {A, B, C}
        cluster.shards_unknown = True  # an old server: CLUSTER SLOTS
        cluster.ranges = {"127.0.0.1:7000": [(0, 16383)]}
        cluster.views.clear()
        assert await client._refresh() is True
        assert [s.primary.port for s in client._table.shards] == [A]
        assert await client._refresh() is False


async def test_open_fails_when_no_seed_answers() -> None:
    cluster = FakeCluster(A, B, C, 7003)
    for node in cluster.nodes.values():
        node.down = True
    client = FakeClusterClient(cluster_config(A, B, C, 7003), cluster)
    async with anyio.create_task_group() as group:
        with pytest.raises(RedisConnectError, match="no node"):
            await client.open(group)
        group.cancel_scope.cancel()


async def wait_for_refreshes(client: FakeClusterClient, count: int) -> None:
    with anyio.fail_after(10):
        for _ in range(1000):
            if client.refreshes >= count:
                return
            await anyio.sleep(0.01)


async def test_the_refresher_runs_when_woken_and_backs_off() -> None:
    cluster = FakeCluster(A)
    async with opened(cluster) as client:
        client.wake_refresher()
        await wait_for_refreshes(client, 2)
        client.wake_refresher()  # woken while it rests after a refresh: it waits longer next
        client.wake_refresher()
        await wait_for_refreshes(client, 3)
        assert client.refreshes == 3


async def test_cancellation_during_redirects_leaves_every_reply_its_own() -> None:
    cluster = FakeCluster(A, B)
    a = key_on(cluster, A)
    slot = key_slot(a)
    cluster.script(
        A,
        lambda conn, args: (
            Error(f"MOVED {slot} 127.0.0.1:{B}")
            if args[0] == "GET" and args[1] == a
            else NotImplemented
        ),
    )
    cluster.script(
        B,
        lambda conn, args: (
            Error(f"MOVED {slot} 127.0.0.1:{A}")
            if args[0] == "GET" and args[1] == a
            else NotImplemented
        ),
    )
    async with opened(cluster) as client:
        other = key_on(cluster, A, "z")
        await client.execute("SET", other, "mine")
        with anyio.move_on_after(0.05) as scope:
            await client.execute("GET", a)
        assert scope.cancelled_caught
        assert await client.execute("GET", other) == "mine"


async def test_dedicated_connections_bind_to_one_slot() -> None:
    cluster = FakeCluster(A, B)
    a, b = key_on(cluster, A), key_on(cluster, B, "j")
    async with opened(cluster) as client:
        async with client.dedicated() as fresh:
            assert fresh.broken is False
        async with client.dedicated() as connection:
            assert connection.pending == 0
            assert await connection.execute(("WATCH", a)) == "OK"
            assert connection.pending == 0
            assert await connection.execute_many([("MULTI",), ("SET", a, "1"), ("EXEC",)]) == [
                "OK",
                "OK",
                [],
            ]
            with pytest.raises(RedisCrossSlotError, match="bound to slot"):
                await connection.execute(("GET", b))
            await connection.aclose()
            assert connection.broken is True
        async with client.dedicated(push=True) as pushes:
            assert pushes.pushes is not None
            pushes.pushes.close()  # a subscriber closes its stream (Subscription does)
        cluster.script(
            A,
            lambda conn, args: (
                Error(f"MOVED {key_slot(a)} 127.0.0.1:{B}") if args[0] == "GET" else NotImplemented
            ),
        )
        async with client.dedicated() as connection:
            reply = await connection.execute(("GET", a))
            assert str(reply).startswith("MOVED")
            assert owner_port(client, a) == B
        async with client.dedicated() as unused:
            assert unused.pending == 0
            await unused.aclose()


async def test_reads_from_replicas_when_asked() -> None:
    cluster = FakeCluster(A)
    replica = cluster.add_replica(A, 7010)
    cluster.node(A).data["k"] = "primary"
    replica.data["k"] = "replica"
    async with opened(cluster, read_from_replicas=True) as client:
        seen = {await client.execute("GET", "k") for _ in range(40)}
        assert seen == {"primary", "replica"}
        assert await client.execute("SET", "k", "w") == "OK"
        assert cluster.node(A).data["k"] == "w"  # writes go to the primary only


async def test_odd_replies_and_calls() -> None:
    cluster = FakeCluster(A, B)
    a, b = key_on(cluster, A), key_on(cluster, B, "j")
    tried = {"asked": 0, "scan": 0}

    def script(conn: Conn, args: list[str]) -> Any:  # noqa: PLR0911 -- one reply per command
        name = args[0].upper()
        if name == "PUBLISH":
            return 0
        if name == "EVALSHA":
            return Error("NOSCRIPT No matching script")
        if name == "DEL" and conn.node is cluster.node(B):
            return Error("WRONGTYPE not a key")
        if name == "SCAN":
            tried["scan"] += 1
            return ["7", []] if args[1] == "0" and conn.node is cluster.node(A) else ["0", []]
        if name == "COMMAND" and args[1].upper() == "INFO":
            return (
                [["movnokeys", 1, ["movablekeys"], 0, 0, 0]] if args[2] == "MOVNOKEYS" else [None]
            )
        if name == "COMMAND":
            return Error("ERR The command has no key arguments")
        if name == "MOVNOKEYS":
            return "ran"
        return NotImplemented

    cluster.script(A, script)
    cluster.script(B, script)
    async with opened(cluster) as client:
        assert await client.execute("PUBLISH", "ch", "m") == 0
        with pytest.raises(RedisResponseError, match="NOSCRIPT"):
            await client.execute("EVALSHA", "abc", 0)  # no keys: any node
        tag = key_on(cluster, A, "t")
        assert await client.execute("DEL", f"{{{tag}}}a", f"{{{tag}}}b") == 0  # one slot
        with pytest.raises(RedisResponseError, match="WRONGTYPE"):
            await client.execute("DEL", a, b)
        assert await client.execute("SCAN", "0", decode=False) == ["0:7", []]
        assert await client.execute("SCAN", "0:7") == ["0", []]
        assert await client.execute("MOVNOKEYS") == "ran"
        assert await client.execute("MOVNOKEYS") == "ran"  # COMMAND INFO asked once
        replies = await client.execute_many([("NOPE",), ("GET", a)])
        assert isinstance(replies[0], RedisError)
        assert replies[1] is None


async def test_refusals_inside_pipelines_and_transactions() -> None:
    cluster = FakeCluster(A, B)
    a = key_on(cluster, A)
    state = {"get": 1, "set": 1, "exec_abort": 1}

    def script(conn: Conn, args: list[str]) -> Any:
        name = args[0].upper()
        if name == "GET" and state["get"]:
            state["get"] -= 1
            return Error("TRYAGAIN try again")
        if name == "SET" and state["set"]:
            state["set"] -= 1
            return Error("TRYAGAIN try again")
        if name == "EXEC" and state["exec_abort"]:
            state["exec_abort"] -= 1
            return Error("EXECABORT Transaction discarded because of previous errors.")
        return NotImplemented

    cluster.script(A, script)
    async with opened(cluster) as client:
        assert await client.execute_many([("GET", a)]) == [None]  # TRYAGAIN: resent
        assert await client.execute_many([("MULTI",), ("SET", a, "1"), ("EXEC",)]) == [
            "OK",
            "OK",
            [],
        ]


async def test_transactions_when_nodes_are_missing_or_drop() -> None:
    cluster = FakeCluster(A)
    cluster.ranges["127.0.0.1:7000"] = [(0, 100)]
    unserved = next(f"k{i}" for i in range(1000) if key_slot(f"k{i}") > 100)
    async with opened(cluster, cluster_retry_timeout=0.1) as client:
        with pytest.raises(RedisRedirectError, match="no node serves"):
            await client.execute_many([("MULTI",), ("SET", unserved, "1"), ("EXEC",)])
        served = next(f"k{i}" for i in range(1000) if key_slot(f"k{i}") <= 100)

        def drop_exec(conn: Conn, args: list[str]) -> Any:
            if args[0] == "EXEC":
                raise Drop
            return NotImplemented

        cluster.script(A, drop_exec)
        with pytest.raises(RedisConnectionLostError, match="EXEC"):
            await client.execute_many([("MULTI",), ("SET", served, "1"), ("EXEC",)])
        await client.aclose()
        cluster.node(A).down = True
        with pytest.raises(RedisRedirectError, match="connection refused"):
            await client.execute_many([("MULTI",), ("SET", served, "1"), ("EXEC",)])


async def test_ask_target_refusing_for_a_moment() -> None:
    cluster = FakeCluster(A, B)
    a = key_on(cluster, A)
    busy = [True]

    def target(conn: Conn, args: list[str]) -> Any:
        if args[0] == "GET" and conn.asking and busy[0]:
            busy[0] = False
            return Error("TRYAGAIN importing")
        return NotImplemented

    cluster.script(
        A,
        lambda conn, args: (
            Error(f"ASK {key_slot(a)} 127.0.0.1:{B}") if args[0] == "GET" else NotImplemented
        ),
    )
    cluster.script(B, target)
    async with opened(cluster) as client:
        assert await client.execute("GET", a) is None
        assert busy == [False]


async def test_a_node_that_is_not_in_cluster_mode() -> None:
    cluster = FakeCluster(A)
    cluster.node(A).handler = lambda conn, args: (
        Error("ERR This instance has cluster support disabled")
        if args[0] == "CLUSTER"
        else NotImplemented
    )
    client = FakeClusterClient(cluster_config(A), cluster)
    async with anyio.create_task_group() as group:
        with pytest.raises(RedisConnectError, match="no node"):
            await client.open(group)
        group.cancel_scope.cancel()
