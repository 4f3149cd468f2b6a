"""Chaos: servers that accept connections and never answer.

Opening the service, and reconnecting later, are bounded by ``socket_connect_timeout``
(the handshake included) whatever ``socket_timeout`` says: RedisTimeoutError, no hang.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from anyservices.redis import RedisConfig, RedisService, RedisTimeoutError
from anyservices.testing import Face, open_face

# (socket_connect_timeout, socket_timeout): the handshake is bounded by the first,
# or by the second when it is shorter or the first is None.
TIMEOUTS = [(0.5, None), (0.5, 30.0), (0.5, 0.2), (None, 0.3)]


@pytest.mark.parametrize(("connect", "socket"), TIMEOUTS)
async def test_open_against_a_silent_server_times_out(
    face: Face, silent_server: Any, connect: float | None, socket: float | None
) -> None:
    config = RedisConfig(
        port=silent_server.port, socket_connect_timeout=connect, socket_timeout=socket
    )
    with anyio.fail_after(10), pytest.raises(RedisTimeoutError) as caught:
        async with open_face(face, RedisService(config)):
            pass
    assert "did not answer" in str(caught.value) or "no reply" in str(caught.value)
    assert silent_server.accepted == 1


@pytest.mark.faces("asyncio", "trio")
async def test_with_no_timeouts_the_caller_s_deadline_still_ends_the_open(
    silent_server: Any,
) -> None:
    config = RedisConfig(port=silent_server.port, socket_connect_timeout=None, socket_timeout=None)
    with anyio.move_on_after(0.3) as scope:
        async with RedisService(config):
            pass
    assert scope.cancelled_caught


@pytest.mark.parametrize(("connect", "socket"), TIMEOUTS[:3])
async def test_reconnecting_into_a_stopped_server_times_out_then_recovers(
    face: Face, private_redis: Any, connect: float, socket: float | None
) -> None:
    """The connection is killed, then the server stops (SIGSTOP: the kernel still
    accepts, nothing answers): the reconnect's handshake fails in time; after
    SIGCONT the next call reconnects."""
    config = private_redis.config(socket_connect_timeout=connect, socket_timeout=socket)
    async with (
        open_face(face, RedisService(config)) as redis,
        RedisService(private_redis.config()) as admin,
    ):
        assert await redis.ping()
        await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        with anyio.fail_after(5):
            while redis.statistics().connections:  # noqa: ASYNC110 -- polls the reader's state
                await anyio.sleep(0.01)
        private_redis.pause()
        try:
            for _ in range(2):  # still silent: the next call fails in time too
                with anyio.fail_after(10), pytest.raises(RedisTimeoutError):
                    await redis.ping()
        finally:
            private_redis.resume()
        with anyio.fail_after(10):
            assert await redis.execute_command("ECHO", "back") == "back"
        assert redis.statistics().reconnects == 1


async def test_subscribing_to_a_stopped_server_times_out_then_recovers(
    face: Face, private_redis: Any
) -> None:
    """A subscription's own (push) connection meets a silent server: its handshake fails
    in time and leaves nothing open; after SIGCONT a new subscription works."""
    config = private_redis.config(socket_connect_timeout=0.5)
    async with open_face(face, RedisService(config)) as redis:
        assert await redis.ping()
        private_redis.pause()
        try:
            with anyio.fail_after(10), pytest.raises(RedisTimeoutError):
                async with redis.subscribe("silent") as sub:
                    await sub.get_message(timeout=1)
        finally:
            private_redis.resume()
        with anyio.fail_after(10):
            async with redis.subscribe("silent") as sub:
                confirmed = await sub.get_message(timeout=5)  # the server's "subscribe"
                assert confirmed is not None
                assert await redis.publish("silent", "hi") == 1
                message = await sub.get_message(ignore_subscribe_messages=True, timeout=5)
        assert message is not None
        assert message.data == "hi"
