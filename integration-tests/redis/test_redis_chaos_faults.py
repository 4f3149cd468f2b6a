"""Chaos: a private redis-server killed (SIGKILL), frozen (SIGSTOP/SIGCONT), and its
clients killed (CLIENT KILL) while tasks keep calling it.

Calls fail only with typed errors, within the configured timeouts; after the server
is back the next calls succeed; no caller ever receives another's reply. And no
error, repr or log record (any logger, DEBUG) shows the password or the URL's userinfo.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from pydantic import SecretStr

from anyservices.redis import (
    RedisAuthenticationError,
    RedisConfig,
    RedisConnectError,
    RedisError,
    RedisService,
    RedisTimeoutError,
)
from anyservices.testing import Face, open_face

TYPED = (RedisConnectError, RedisTimeoutError)


class Traffic:
    """Tasks looping ECHO of unique values, counting successes, typed failures and
    any reply that is not the caller's own."""

    def __init__(self, redis: RedisService, tasks: int = 6) -> None:
        self.redis = redis
        self.tasks = tasks
        self.ok = 0
        self.failed: list[type[BaseException]] = []
        self.wrong: list[str] = []
        self.stop = anyio.Event()

    async def run(self, task: int) -> None:
        i = 0
        while not self.stop.is_set():
            token = f"{task}-{i}-{uuid.uuid4().hex[:8]}"
            i += 1
            try:
                with anyio.fail_after(10):  # a hang is a failure of this test, not a pass
                    reply = await self.redis.execute_command("ECHO", token)
            except TYPED as exc:
                self.failed.append(type(exc))
                await anyio.sleep(0.01)
                continue
            if reply == token:
                self.ok += 1
            else:
                self.wrong.append(f"ECHO {token!r} -> {reply!r}")
            await anyio.lowlevel.checkpoint()

    async def until(self, condition: Callable[[], bool], seconds: float = 10) -> None:
        with anyio.fail_after(seconds):
            while not condition():  # noqa: ASYNC110 -- polls counters the tasks update
                await anyio.sleep(0.01)


async def _with_traffic(
    redis: RedisService, fault: Callable[[Traffic], Awaitable[None]]
) -> Traffic:
    traffic = Traffic(redis)
    async with anyio.create_task_group() as tg:
        for task in range(traffic.tasks):
            tg.start_soon(traffic.run, task)
        try:
            await fault(traffic)
        finally:
            traffic.stop.set()
    return traffic


def _kill_and_restart(server: Any, *, calls: int) -> Callable[[Traffic], Awaitable[None]]:
    """After ``calls`` successes SIGKILL the server, restart it after a few failures,
    and wait for ``calls`` more successes."""

    async def fault(traffic: Traffic) -> None:
        await traffic.until(lambda: traffic.ok >= calls)
        server.stop()
        await traffic.until(lambda: len(traffic.failed) >= 3)
        server.start()
        ok = traffic.ok
        await traffic.until(lambda: traffic.ok >= ok + calls)

    return fault


async def test_sigkill_then_restart(face: Face, private_redis: Any) -> None:
    config = private_redis.config(socket_connect_timeout=0.5, socket_timeout=1.0)
    async with open_face(face, RedisService(config)) as redis:
        traffic = await _with_traffic(redis, _kill_and_restart(private_redis, calls=20))
        assert not traffic.wrong
        assert set(traffic.failed) <= {RedisConnectError, RedisTimeoutError}
        assert redis.statistics().reconnects >= 1


async def test_sigstop_then_sigcont(face: Face, private_redis: Any) -> None:
    """A frozen server answers nothing: calls fail with RedisTimeoutError after
    socket_timeout (reconnects with it after socket_connect_timeout), then recover."""
    config = private_redis.config(socket_connect_timeout=0.5, socket_timeout=0.5)
    async with open_face(face, RedisService(config)) as redis:

        async def fault(traffic: Traffic) -> None:
            await traffic.until(lambda: traffic.ok >= 20)
            private_redis.pause()
            try:
                await traffic.until(lambda: RedisTimeoutError in traffic.failed)
            finally:
                private_redis.resume()
            ok = traffic.ok
            await traffic.until(lambda: traffic.ok >= ok + 20)

        traffic = await _with_traffic(redis, fault)
        assert not traffic.wrong
        assert RedisTimeoutError in traffic.failed
        assert set(traffic.failed) <= {RedisConnectError, RedisTimeoutError}


async def test_client_kill_under_traffic(face: Face, private_redis: Any) -> None:
    config = private_redis.config(socket_timeout=2.0)
    async with (
        open_face(face, RedisService(config)) as redis,
        RedisService(private_redis.config(client_name="admin")) as admin,
    ):

        async def fault(traffic: Traffic) -> None:
            for _ in range(5):
                ok = traffic.ok
                await traffic.until(lambda: traffic.ok >= ok + 10)  # noqa: B023 -- used at once
                await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            ok = traffic.ok
            await traffic.until(lambda: traffic.ok >= ok + 20)

        traffic = await _with_traffic(redis, fault)
        assert not traffic.wrong
        assert set(traffic.failed) <= {RedisConnectError}
        assert redis.statistics().reconnects >= 1


async def test_secrets_in_no_error_repr_or_log(
    face: Face, private_redis_with: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A server with a password: a wrong one, the right one through the URL, then the
    server killed under traffic and restarted. The password and the URL's userinfo are
    in no error, repr or log record of any logger at DEBUG."""
    password = f"pw-{uuid.uuid4().hex}"
    server = private_redis_with("--requirepass", password)
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    try:
        url = f"redis://:{password}@127.0.0.1:{server.port}/0"
        good = RedisConfig(url=SecretStr(url), socket_connect_timeout=0.5, socket_timeout=0.5)
        bad = RedisConfig(url=SecretStr(url.replace(password, "wrong-" + password[3:])))
        texts += [repr(good), str(good), repr(bad), repr(RedisService(good))]
        with pytest.raises(RedisAuthenticationError) as refused:
            async with open_face(face, RedisService(bad)):
                pass
        texts += [str(refused.value), repr(refused.value)]
        async with open_face(face, RedisService(good)) as redis:
            texts.append(repr(redis))
            traffic = await _with_traffic(redis, _kill_and_restart(server, calls=10))
            assert not traffic.wrong
            try:
                await redis.execute_command("AUTH", "nobody", "nothing")
            except RedisError as exc:
                texts += [str(exc), repr(exc)]
    finally:
        server.stop()
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    texts.append(caplog.text)
    assert any("reconnecting" in text for text in texts)  # the log did record the faults
    secret = password[3:]  # what is ours in it: the uuid
    for text in texts:
        assert secret not in text
        assert secret[:8] not in text
