"""The connection layer against real Redis 7: auth, databases, sockets, restarts, timeouts.

Tests that need to stop or stall a server start a private ``redis-server`` of their own
(the ``private_redis`` fixtures of this folder's conftest).
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from pydantic import SecretStr

from anyservices.redis._client import RedisClient
from anyservices.redis._config import RedisConfig
from anyservices.redis._errors import (
    RedisAuthenticationError,
    RedisConnectError,
    RedisTimeoutError,
)

LOGGER = logging.getLogger("anyservices.redis")


@asynccontextmanager
async def open_client(config: RedisConfig) -> AsyncGenerator[RedisClient]:
    client = RedisClient(config, logger=LOGGER)
    try:
        async with anyio.create_task_group() as tg:
            try:
                await client.open(tg)
                yield client
            finally:
                await client.aclose()
                tg.cancel_scope.cancel()
    except BaseExceptionGroup as group:  # the task group wraps what the body raised
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


@pytest.fixture
def base_config(redis_env: dict[str, str]) -> RedisConfig:
    return RedisConfig(url=SecretStr(redis_env["ANYSERVICES_REDIS_URL"]))


def with_fields(config: RedisConfig, **fields: Any) -> RedisConfig:
    data = config.model_dump(exclude={"url"})
    if config.password is not None:
        data["password"] = config.password
    return RedisConfig(**{**data, **fields})


async def test_hello_3_and_ping(base_config: RedisConfig) -> None:
    async with open_client(base_config) as client:
        assert await client.execute("PING") == "PONG"
        info = await client.execute("CLIENT", "INFO")
        assert "resp=3" in info
        assert "name=anyservices" in info


async def test_acl_user_and_wrong_password(
    base_config: RedisConfig, caplog: pytest.LogCaptureFixture
) -> None:
    user = f"acl-{uuid.uuid4().hex[:8]}"
    secret = f"pw-{uuid.uuid4().hex}"
    async with open_client(base_config) as admin:
        await admin.execute("ACL", "SETUSER", user, "on", f">{secret}", "~*", "+@all")
        try:
            config = with_fields(base_config, username=user, password=SecretStr(secret))
            async with open_client(config) as client:
                assert await client.execute("ACL", "WHOAMI") == user
            bad = with_fields(base_config, username=user, password=SecretStr("wrong-" + secret))
            caplog.set_level(logging.DEBUG)
            with pytest.raises(RedisAuthenticationError) as caught:
                async with open_client(bad):
                    pass
            assert secret not in str(caught.value)
            assert secret not in repr(bad)
            assert secret not in caplog.text
        finally:
            await admin.execute("ACL", "DELUSER", user)


async def test_select_database(base_config: RedisConfig) -> None:
    key = f"transport-db-{uuid.uuid4().hex}"
    async with (
        open_client(with_fields(base_config, db=3)) as db3,
        open_client(with_fields(base_config, db=0)) as db0,
    ):
        await db3.execute("SET", key, "in-3", "EX", 60)
        assert await db3.execute("GET", key) == "in-3"
        assert await db0.execute("GET", key) is None
        await db3.execute("DEL", key)


async def test_resp2_fallback_still_works(base_config: RedisConfig) -> None:
    async with open_client(base_config) as client:
        connection = client._connections[0]  # the handshake's result
        assert connection is not None
        assert connection.protocol == 3


async def test_unix_socket(private_redis: Any) -> None:
    server = private_redis
    config = RedisConfig(url=SecretStr(f"unix://{server.unix_socket}"))
    async with open_client(config) as client:
        assert await client.execute("ECHO", "over unix") == "over unix"


async def test_connect_refused_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # a port nobody listens on
        config = RedisConfig(port=sock.getsockname()[1], socket_connect_timeout=2)
    with pytest.raises(RedisConnectError, match="could not connect"):
        async with open_client(config):
            pass


async def test_recovers_after_the_server_restarts(private_redis: Any) -> None:
    server = private_redis
    async with open_client(server.config()) as client:
        await client.execute("SET", "k", "before")
        server.stop()
        with pytest.raises(RedisConnectError):
            await client.execute("GET", "k")
        with pytest.raises(RedisConnectError):  # still down: fails fast, no hang
            await client.execute("GET", "k")
        server.start()
        assert await client.execute("ECHO", "back") == "back"
        assert await client.execute("GET", "k") is None  # a fresh server (no persistence)
        assert client.statistics().reconnects >= 1


async def test_socket_timeout_on_debug_sleep(private_redis_with: Callable[..., Any]) -> None:
    server = private_redis_with("--enable-debug-command", "yes")
    config = with_fields(server.config(), socket_timeout=0.2)
    async with open_client(config) as client:
        with pytest.raises(RedisTimeoutError):
            await client.execute("DEBUG", "SLEEP", 0.5)
        await anyio.sleep(0.5)  # the whole server sleeps: let it wake up
        # The stalled connection was dropped; the next call gets a fresh one.
        with anyio.fail_after(5):
            assert await client.execute("ECHO", "fresh") == "fresh"
        assert client.statistics().reconnects == 1


async def test_caller_deadline_leaves_the_connection_healthy(base_config: RedisConfig) -> None:
    key = f"transport-empty-{uuid.uuid4().hex}"
    async with open_client(base_config) as client:
        with anyio.move_on_after(0.05) as scope:
            await client.execute("BLPOP", key, 0.3)  # blocks the shared connection a while
        assert scope.cancelled_caught
        # The abandoned BLPOP reply is read and dropped; nobody receives it.
        assert await client.execute("ECHO", "mine") == "mine"
        assert client.statistics().reconnects == 0
        assert client.statistics().pending_replies == 0


async def test_dedicated_connection_for_blocking_commands(base_config: RedisConfig) -> None:
    key = f"transport-list-{uuid.uuid4().hex}"
    async with open_client(base_config) as client:
        got: list[Any] = []

        async def blocked() -> None:
            async with client.dedicated() as connection:
                got.append(await connection.execute(["BLPOP", key, 5]))

        async with anyio.create_task_group() as tg:
            tg.start_soon(blocked)
            await anyio.sleep(0.05)
            # The shared connection is not stuck behind the BLPOP.
            assert await client.execute("ECHO", "free") == "free"
            await client.execute("RPUSH", key, "item")
        assert got == [[key, "item"]]


async def test_error_replies_are_mapped(base_config: RedisConfig) -> None:
    from anyservices.redis._errors import RedisResponseError  # noqa: PLC0415

    key = f"transport-type-{uuid.uuid4().hex}"
    async with open_client(base_config) as client:
        await client.execute("RPUSH", key, "x")
        with pytest.raises(RedisResponseError, match="WRONGTYPE"):
            await client.execute("GET", key)
        replies = await client.execute_many([["GET", key], ["DEL", key]])
        assert isinstance(replies[0], RedisResponseError)
        assert replies[1] == 1
        assert await client.execute("ECHO", "ok") == "ok"


async def test_health_checks_ping_idle_connections(private_redis: Any) -> None:
    server = private_redis
    config = with_fields(server.config(), health_check_interval=0.05)
    async with open_client(config) as client, open_client(server.config()) as admin:
        sent = client.statistics().commands_sent
        await anyio.sleep(0.3)
        assert client.statistics().commands_sent > sent  # PINGs went out while idle
        # The server drops the connection: the next call gets a fresh one, no error.
        await admin.execute("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        await anyio.sleep(0.2)
        assert await client.execute("ECHO", "still here") == "still here"
        assert client.statistics().reconnects == 1


async def test_dedicated_connections_are_bounded(base_config: RedisConfig) -> None:
    config = with_fields(base_config, max_connections=2)  # one shared + one dedicated
    async with open_client(config) as client:
        order: list[str] = []
        first_in = anyio.Event()

        async def hold(name: str) -> None:
            async with client.dedicated() as connection:
                order.append(f"{name} in")
                first_in.set()
                await connection.execute(["PING"])
                await anyio.sleep(0.1)
                order.append(f"{name} out")

        async with anyio.create_task_group() as tg:
            tg.start_soon(hold, "a")
            await first_in.wait()
            tg.start_soon(hold, "b")
        assert order == ["a in", "a out", "b in", "b out"]


async def test_calls_waiting_on_a_failed_reconnect_share_its_failure(private_redis: Any) -> None:
    server = private_redis
    async with open_client(server.config()) as client:
        await client.execute("PING")
        server.stop()
        errors: list[BaseException] = []

        async def call() -> None:
            try:
                await client.execute("PING")
            except RedisConnectError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(call)
        assert len(errors) == 20
        # One connect attempt failed for all that were waiting, not one each.
        assert client._connect_failures <= 2
        server.start()
        assert await client.execute("ECHO", "back") == "back"
        assert client.statistics().reconnects == 1
