"""Pub/sub on every face, patterns, namespaces, and a subscription across a server restart."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess

import anyio

from anyservices.redis import Message, RedisConfig, RedisConnectError, RedisService
from anyservices.testing import Face, open_face


async def _publish_until_heard(redis: RedisService, channel: str, data: str) -> int:
    """Subscriptions are asynchronous: publish until someone hears it."""
    with anyio.fail_after(5):
        while not (receivers := await redis.publish(channel, data)):  # noqa: ASYNC110 -- polls the server
            await anyio.sleep(0.01)
    return receivers


async def test_subscribe_and_receive(face: Face, redis_config: RedisConfig) -> None:
    async with (
        open_face(face, RedisService(redis_config)) as redis,
        redis.subscribe("news", patterns=["sport.*"]) as subscription,
        RedisService(redis_config) as publisher,
    ):
        await _publish_until_heard(publisher, "news", "hello")
        await _publish_until_heard(publisher, "sport.ski", "fast")
        received: list[Message] = []
        with anyio.fail_after(5):
            async for message in subscription:
                received.append(message)
                if len(received) == 2:
                    break
        assert received[0] == Message("news", "hello")
        assert received[1] == Message("sport.ski", "fast", "sport.*", "pmessage")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is installed by anyservices.devservers"
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


async def _wait_until_up(config: RedisConfig) -> None:
    with anyio.fail_after(10):
        while True:
            try:
                async with RedisService(config) as probe:
                    await probe.ping()
            except RedisConnectError:
                await anyio.sleep(0.05)
            else:
                return


async def test_subscription_survives_a_server_restart() -> None:
    port = _free_port()
    config = RedisConfig(port=port, socket_connect_timeout=1)
    server = _start_redis(port)
    try:
        await _wait_until_up(config)
        async with RedisService(config) as redis, redis.subscribe("events") as subscription:
            await _publish_until_heard(redis, "events", "before")
            assert (await subscription.__anext__()).data == "before"
            server.terminate()  # the server goes away ...
            server.wait()
            server = _start_redis(port)  # ... and comes back on the same port

            async def keep_publishing() -> None:
                while True:
                    with contextlib.suppress(RedisConnectError):
                        await redis.publish("events", "after")
                    await anyio.sleep(0.05)

            second = Message("", "")
            with anyio.fail_after(15):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(keep_publishing)
                    second = await subscription.__anext__()
                    tg.cancel_scope.cancel()
            assert second.data == "after"
            assert subscription.reconnects >= 1
            assert redis.statistics().reconnects >= 1
    finally:
        server.terminate()
        server.wait()
