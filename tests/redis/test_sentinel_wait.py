"""sentinel_wait_replicas: the settings, which commands wait, and the WAIT that follows
writes, against scripted in-memory sentinels and servers (no network)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import hiredis
import pydantic
import pytest
from pydantic import SecretStr

from anyservices.redis import (
    RedisConfig,
    RedisConnectError,
    RedisConnectionLostError,
    RedisDataError,
    RedisError,
    RedisResponseError,
    RedisUnconfirmedWriteError,
)
from anyservices.redis._sentinel import confirm, writes

from .test_cluster_fakes import Conn, Drop, Error, FakeCluster, Hang
from .test_sentinel_client import FakeSentinelClient, M, config, opened, world

WAIT = ("WAIT", 1, 250)

# -- settings -------------------------------------------------------------------------


def test_off_by_default_and_in_ms_on_the_wire() -> None:
    assert RedisConfig().sentinel_wait_replicas == 0
    settings = config(sentinel_wait_replicas=2, sentinel_wait_timeout=0.25)
    assert (settings.sentinel_wait_replicas, settings.sentinel_wait_timeout) == (2, 0.25)
    client = FakeSentinelClient(settings, FakeCluster(M))
    assert client._wait == ("WAIT", 2, 250)
    assert FakeSentinelClient(config(), FakeCluster(M))._wait is None


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_REDIS_MODE", "sentinel")
    monkeypatch.setenv("ANYSERVICES_REDIS_SENTINELS", "127.0.0.1:26400")
    monkeypatch.setenv("ANYSERVICES_REDIS_SENTINEL_MASTER", "mymaster")
    monkeypatch.setenv("ANYSERVICES_REDIS_SENTINEL_WAIT_REPLICAS", "1")
    monkeypatch.setenv("ANYSERVICES_REDIS_SENTINEL_WAIT_TIMEOUT", "0.5")
    loaded = RedisConfig.from_env()
    assert (loaded.sentinel_wait_replicas, loaded.sentinel_wait_timeout) == (1, 0.5)


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"sentinel_wait_replicas": 1}, "sentinel_wait_replicas", 'only mode="sentinel"'),
        (
            {"mode": "cluster", "cluster_nodes": ["h:1"], "sentinel_wait_replicas": 1},
            "sentinel_wait_replicas",
            "not mode='cluster'",
        ),
        ({"sentinel_wait_replicas": -1}, "sentinel_wait_replicas", "greater than or equal"),
        ({"sentinel_wait_replicas": "many"}, "sentinel_wait_replicas", "valid integer"),
        ({"sentinel_wait_timeout": 0}, "sentinel_wait_timeout", "greater than or equal"),
        ({"sentinel_wait_timeout": 0.0001}, "sentinel_wait_timeout", "0.001"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message) as caught:
        RedisConfig.model_validate(settings)
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


def test_the_wait_must_end_before_the_socket_timeout() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"1\.0 s must be shorter") as caught:
        config(sentinel_wait_replicas=1, socket_timeout=1.0)
    assert caught.value.errors()[0]["loc"] == ("sentinel_wait_timeout",)
    assert config(sentinel_wait_replicas=1, socket_timeout=1.5).socket_timeout == 1.5
    assert config(sentinel_wait_timeout=5, socket_timeout=1.0).sentinel_wait_replicas == 0


def test_secrets_never_appear_in_the_errors() -> None:
    secret = "hunter2-wait-secret"
    attempts: list[dict[str, object]] = [
        {"url": SecretStr(f"redis://:{secret}@h:1/0"), "sentinel_wait_replicas": 1},
        {"password": SecretStr(secret), "sentinel_wait_replicas": 1},
        {"password": secret, "sentinel_wait_timeout": -1},
        {"url": f"redis://alice:{secret}@h:1/0", "sentinel_wait_replicas": 1},
        {
            "mode": "sentinel", "sentinels": ["h:1"], "sentinel_master": "m",
            "password": secret, "sentinel_wait_replicas": 1, "socket_timeout": 0.5,
        },
    ]  # fmt: skip
    for settings in attempts:
        with pytest.raises(pydantic.ValidationError) as caught:
            RedisConfig.model_validate(settings)
        for text in (str(caught.value), repr(caught.value), caught.value.json()):
            assert secret not in text
            assert "hunter" not in text
    error = confirm([("SET", "k", secret)], ["OK", 0], WAIT)[0]
    assert isinstance(error, RedisConnectionLostError)
    assert secret not in str(error)
    assert secret not in repr(error)


# -- which commands wait ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("SET", "k", "v"), True),
        (("incr", "k"), True),
        (("EVALSHA", "abc", "1", "k"), True),
        (("XGROUP", "CREATE", "s", "g", "$"), True),
        (("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"), True),
        (("FLUSHDB",), True),
        (("FT.CREATE", "idx"), True),
        (("SOMENEWCOMMAND", "x"), True),  # unknown: taken to write
        (("GET", "k"), False),
        (("MGET", "a", "b"), False),
        (("EVALSHA_RO", "abc", "1", "k"), False),
        (("XINFO", "STREAM", "s"), False),
        (("PING",), False),
        (("CLIENT", "ID"), False),
        (("SCAN", 0), False),
        (("PUBLISH", "c", "m"), False),
        (("SPUBLISH", "c", "m"), False),
        (("WATCH", "k"), False),
        (("KEYS", "*"), False),
        (("FT.SEARCH", "idx", "*"), False),
        (("WAIT", 1, 10), False),
    ],
)
def test_which_commands_wait(args: tuple[Any, ...], expected: bool) -> None:
    assert writes(args) is expected


def test_confirm_turns_unconfirmed_writes_into_errors() -> None:
    commands: list[tuple[Any, ...]] = [
        ("SET", "a", "1"), ("GET", "a"), ("SET", "b", "1", "NX"), ("INCR", "s"),
        ("MULTI",), ("INCR", "x"), ("EXEC",),
        ("MULTI",), ("GET", "x"), ("EXEC",),
        ("MULTI",), ("INCR", "y"), ("EXEC",),
        ("MULTI",), ("INCR", "z"), ("DISCARD",),
        ("SET", "c", "1"),
    ]  # fmt: skip
    replies: list[Any] = [
        "OK", "1", None, RedisResponseError("WRONGTYPE no", service="redis"),
        "OK", "QUEUED", [1],
        "OK", "QUEUED", ["1"],
        "OK", "QUEUED", None,  # a watched key changed: nothing ran
        "OK", "QUEUED", "OK",
        hiredis.ReplyError("ERR no"),
    ]  # fmt: skip
    assert confirm(commands, [*replies, 1], WAIT) == replies
    assert confirm(commands, [*replies, 2], WAIT) == replies
    results = confirm(commands, [*replies, 0], WAIT)
    lost = [i for i, r in enumerate(results) if isinstance(r, RedisConnectionLostError)]
    assert lost == [0, 2, 6]  # SET, SET NX (may have run), the writing EXEC
    assert [r for i, r in enumerate(results) if i not in lost] == [
        r for i, r in enumerate(replies) if i not in lost
    ]
    error = results[0]
    assert error.maybe_executed is True
    assert error.operation == "SET"
    assert "only 0 of 1 replicas confirmed it within 0.25 s" in error.message
    assert "sentinel_wait_replicas" in error.message
    refused = confirm([("SET", "a", "1")], ["OK", RedisResponseError("ERR WAIT no")], WAIT)
    assert "WAIT failed (ERR WAIT no" in str(refused[0])


# -- the client -------------------------------------------------------------------------


def waiting(state: dict[str, Any], answers: list[Any] | None = None) -> list[list[str]]:
    """Script WAIT's answers (1 replica unless told); returns what the master was sent."""
    queue = list(answers or [])

    def script(conn: Conn, args: list[str]) -> Any:
        if args[0] == "WAIT":
            return queue.pop(0) if queue else 1
        return NotImplemented

    state["script"] = script
    return []


def sent(fake: FakeCluster) -> list[str]:
    return [" ".join(args) for args in fake.node(M).log if args[0] not in {"HELLO", "ROLE"}]


async def test_writes_that_arrive_together_share_one_wait() -> None:
    fake, state = world()
    waiting(state)
    async with opened(fake, sentinel_wait_replicas=1, sentinel_wait_timeout=0.25) as client:
        results: list[Any] = []

        async def incr(key: str) -> None:
            results.append(await client.execute("INCR", key))

        async def pipeline() -> None:
            results.append(await client.execute_many([("SET", "p", "1"), ("GET", "p")]))

        async with anyio.create_task_group() as group:
            for key in "abcdefgh":
                group.start_soon(incr, key)
            group.start_soon(pipeline)
        assert sorted(map(str, results)) == ["1"] * 8 + ["['OK', '1']"]
        log = sent(fake)
        assert sorted(log[:10]) == sorted([f"INCR {k}" for k in "abcdefgh"] + ["SET p 1", "GET p"])
        assert log.index("GET p") == log.index("SET p 1") + 1  # a pipeline stays whole
        assert log[10:] == ["WAIT 1 250"]  # one WAIT, right behind them all
        fake.node(M).log.clear()
        assert await client.execute("GET", "a") == "1"  # reads never wait
        assert await client.execute("SET", "raw", b"v", decode=False) == b"OK"
        assert sent(fake) == ["GET a", "SET raw v", "WAIT 1 250"]


async def test_an_unconfirmed_write_raises_maybe_executed() -> None:
    fake, state = world()
    waiting(state, [0, Error("ERR WAIT cannot be used with replica instances")])
    async with opened(fake, sentinel_wait_replicas=1, sentinel_wait_timeout=0.25) as client:
        with pytest.raises(RedisUnconfirmedWriteError, match="only 0 of 1 replicas") as caught:
            await client.execute("INCR", "n")
        assert caught.value.maybe_executed is True
        assert fake.node(M).data["n"] == "1"  # it ran, and is never sent again
        with pytest.raises(RedisUnconfirmedWriteError, match="WAIT failed"):
            await client.execute("INCR", "n")
        assert fake.node(M).data["n"] == "2"
        assert await client.execute("INCR", "n") == 3  # confirmed again


async def test_pipelines_and_transactions_end_with_one_wait() -> None:
    fake, state = world()
    waiting(state, [1, 0])
    async with opened(fake, sentinel_wait_replicas=1, sentinel_wait_timeout=0.25) as client:
        assert await client.execute_many([("SET", "a", "1"), ("GET", "a")]) == ["OK", "1"]
        assert sent(fake) == ["SET a 1", "GET a", "WAIT 1 250"]
        fake.node(M).log.clear()
        replies = await client.execute_many([("MULTI",), ("SET", "b", "1"), ("EXEC",)])
        assert replies[:2] == ["OK", "OK"]  # the fake answers SET inside MULTI at once
        assert isinstance(replies[2], RedisConnectionLostError)
        fake.node(M).log.clear()
        assert await client.execute_many([("GET", "a"), ("PING",)]) == ["1", "PONG"]
        assert sent(fake) == ["GET a", "PING"]  # no write: no WAIT


async def test_a_watched_transaction_waits_after_exec() -> None:
    fake, state = world()
    waiting(state, [0])
    async with opened(fake, sentinel_wait_replicas=1, sentinel_wait_timeout=0.25) as client:
        async with client.dedicated() as own:
            assert own.broken is False  # everything else is the connection's own
            assert await own.execute(("WATCH", "k")) == "OK"
            assert await own.execute(("GET", "k")) is None
            replies = await own.execute_many([("MULTI",), ("SET", "k", "v"), ("EXEC",)])
            assert isinstance(replies[2], RedisConnectionLostError)
        assert sent(fake) == ["WATCH k", "GET k", "MULTI", "SET k v", "EXEC", "WAIT 1 250"]
        async with client.dedicated(push=True) as subscribed:  # pub/sub: never wrapped
            assert subscribed.pushes is not None
            subscribed.pushes.close()


async def test_refused_writes_are_sent_again_and_bad_ones_fail_alone() -> None:
    fake, state = world()
    refusals = [Error("READONLY You can't write against a read only replica.")]

    def script(conn: Conn, args: list[str]) -> Any:
        if args[0] == "WAIT":
            return 1
        if args[0] == "SET" and refusals:
            return refusals.pop()
        return NotImplemented

    state["script"] = script
    async with opened(fake, sentinel_wait_replicas=1) as client:
        assert await client.execute("SET", "k", "v") == "OK"  # READONLY: looked up, resent
        assert sent(fake).count("SET k v") == 2
        with pytest.raises(RedisResponseError, match="unknown command"):
            await client.execute("NOSUCH", "x")
        with pytest.raises(RedisDataError, match="cannot send dict"):
            await client.execute("SET", "k", {})  # type: ignore[arg-type]
        with pytest.raises(RedisError, match="use subscribe"):
            await client.execute("SUBSCRIBE", "c")


class Deferred:
    """Stands in for the client's task group: records the batch task instead of running it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Callable[..., Awaitable[None]], tuple[Any, ...]]] = []

    def start_soon(self, func: Callable[..., Awaitable[None]], *args: Any) -> None:
        self.calls.append((func, args))


async def test_a_write_cancelled_before_its_batch_went_out_is_never_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, state = world()
    waiting(state)
    async with opened(fake, sentinel_wait_replicas=1) as client:
        deferred = Deferred()
        monkeypatch.setattr(client, "_task_group", deferred)
        with anyio.move_on_after(0.05):  # gathered, and given up on before it went out
            await client.execute("SET", "gone", "1")
        monkeypatch.undo()
        assert client._gathering[None].writes == []
        [(send, args)] = deferred.calls
        await send(*args)  # the batch task finds nothing to send
        assert client._gathering == {}
        assert "SET gone 1" not in sent(fake)
        assert await client.execute("SET", "k", "v") == "OK"
        state["script"] = hang_on_set
        with anyio.move_on_after(0.05):  # given up on after it went out: it stays sent
            await client.execute("SET", "slow", "1")
        assert "SET slow 1" in sent(fake)


def hang_on_set(conn: Conn, args: list[str]) -> Any:
    if args[0] == "SET":
        raise Hang
    return NotImplemented


async def test_lost_connections_and_a_closing_client() -> None:
    fake, state = world()
    drop = {"INCR": True}

    def script(conn: Conn, args: list[str]) -> Any:
        if args[0] == "WAIT":
            return 1
        if args[0] == "INCR" and drop["INCR"]:
            drop["INCR"] = False
            conn.node.default(args)
            raise Drop
        if args[0] == "SET":
            raise Hang
        return NotImplemented

    state["script"] = script
    async with opened(fake, sentinel_wait_replicas=1, cluster_retry_timeout=0.2) as client:
        with pytest.raises(RedisConnectionLostError, match="may have run"):
            await client.execute("INCR", "n")
        await client._drop_connections()
        fake.node(M).down = True
        with pytest.raises(RedisConnectError, match="refused"):  # never sent: retried, then
            await client.execute("INCR", "n")
        fake.node(M).down = False
    # The client's task group ends while a write waits for its reply: the caller learns
    # that it may have run instead of waiting forever.
    errors: list[RedisError] = []
    client = FakeSentinelClient(config(sentinel_wait_replicas=1), fake)

    async def write(key: str) -> None:
        try:
            await client.execute("SET", key, "v")
        except RedisError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as callers, anyio.create_task_group() as group:
        fake.group = group
        await client.open(group)
        callers.start_soon(write, "sent")
        await anyio.sleep(0.05)
        callers.start_soon(write, "gathered")  # behind the batch in flight: never sent
        await anyio.sleep(0.05)
        assert [e.commands for e in client._gathering[None].writes] == [[("SET", "gathered", "v")]]
        group.cancel_scope.cancel()
    await client.aclose()
    assert len(errors) == 2
    for error in errors:
        assert isinstance(error, RedisConnectionLostError)
        assert "closed" in error.message
    assert client._gathering == {}
