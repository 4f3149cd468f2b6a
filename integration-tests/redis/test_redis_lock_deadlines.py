"""Issue 10 #3: deadlines decide whether a lock or single-flight tries again, never cut a try.

A SET NX that was sent completes; if the caller gave up meanwhile, what it took is given
back. Round trips are made slow for real by SIGSTOPping a private redis-server.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import anyio
import pytest

from anyservices import blocking
from anyservices._core._portal import Backend
from anyservices.redis import LockError, RedisConfig, RedisLockError, RedisService
from anyservices.testing import Face, open_face


class Server:
    """A redis-server of the test's own, which the test may stop and continue."""

    def __init__(self, *options: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        binary = shutil.which("redis-server")
        assert binary, "redis-server is installed by anyservices.devservers"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *options],
            stdout=subprocess.DEVNULL,
        )
        self.config = RedisConfig(port=self.port, socket_connect_timeout=2, socket_timeout=10)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.02)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def resume_after(self, delay: float) -> threading.Timer:
        timer = threading.Timer(delay, self.resume)
        timer.start()
        return timer

    def close(self) -> None:
        self.resume()
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def server() -> Iterator[Server]:
    own = Server()
    try:
        yield own
    finally:
        own.close()


# -- one try when asked for one --------------------------------------------------------


async def test_forty_single_tries_on_a_free_lock_all_acquire(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        for _ in range(40):
            async with redis.lock("free", timeout=30, blocking_timeout=0) as held:
                assert await held.owned()
            assert await redis.exists("lock:free") == 0


async def test_one_try_on_a_taken_lock_fails_and_leaves_the_holder_alone(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        async with redis.lock("taken", timeout=30) as held:
            with pytest.raises(RedisLockError, match="could not acquire") as caught:
                async with redis.lock("taken", blocking_timeout=0):
                    pytest.fail("the lock is held")  # pragma: no cover
            assert isinstance(caught.value, LockError)
            assert await held.owned()
            assert not await held.try_acquire()  # one more SET NX: still ours, not re-taken
        assert await redis.exists("lock:taken") == 0


async def test_forty_single_flights_on_free_keys_all_compute(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        for n in range(40):
            compute = functools.partial(int, n)
            assert await redis.get_or_compute(f"k{n}", compute, wait_timeout=0) == n
            assert await redis.exists(f"flight:k{n}") == 0


# -- a deadline that passes during the round trip ----------------------------------------


async def test_a_blocking_timeout_passing_mid_round_trip_still_acquires(
    face: Face, server: Server
) -> None:
    held: list[bool] = []
    async with open_face(face, RedisService(server.config)) as redis:
        assert await redis.ping()

        async def take() -> None:
            async with redis.lock("slow", timeout=30, blocking_timeout=0.05) as lock:
                held.append(await lock.owned())

        async with anyio.create_task_group() as tg:
            server.stop()  # the SET waits for the server longer than blocking_timeout
            tg.start_soon(take)
            await anyio.sleep(0.3)
            server.resume()
        assert held == [True]
        assert await redis.exists("lock:slow") == 0


async def test_a_wait_timeout_passing_mid_round_trip_still_computes(
    face: Face, server: Server
) -> None:
    values: list[str] = []
    async with open_face(face, RedisService(server.config)) as redis:
        assert await redis.ping()

        async def compute() -> None:
            values.append(await redis.get_or_compute("v", lambda: "mine", wait_timeout=0.05))

        async with anyio.create_task_group() as tg:
            server.stop()
            tg.start_soon(compute)
            await anyio.sleep(0.3)
            server.resume()
        assert values == ["mine"]
        assert await redis.exists("flight:v") == 0
        assert await redis.get_json("v") == "mine"  # type: ignore[comparison-overlap]


@pytest.mark.faces("asyncio", "trio")  # a caller's cancel scope; the sync face: Ctrl-C below
async def test_a_caller_deadline_passing_mid_round_trip_leaves_no_key(
    face: Face, server: Server
) -> None:
    async with RedisService(server.config) as redis:
        assert await redis.ping()
        server.stop()
        timer = server.resume_after(0.3)
        with anyio.move_on_after(0.05) as scope:
            async with redis.lock("cut", timeout=30):
                pytest.fail("the caller's deadline passed while acquiring")  # pragma: no cover
        timer.join()
        assert scope.cancelled_caught
        assert await redis.exists("lock:cut") == 0
        server.stop()
        timer = server.resume_after(0.3)
        with anyio.move_on_after(0.05) as scope:
            await redis.get_or_compute("cut", lambda: "never")
        timer.join()
        assert scope.cancelled_caught
        assert await redis.exists("flight:cut", "cut") == 0


@pytest.mark.faces("sync")
@pytest.mark.parametrize(
    "backend",
    [
        "asyncio",
        "trio",
    ],
)
def test_ctrl_c_during_a_slow_acquire_leaves_no_key(
    face: Face, server: Server, interrupt_after: Callable[[float], None], backend: Backend
) -> None:
    with blocking(RedisService(server.config), backend=backend) as redis:
        assert redis.ping()
        server.stop()
        interrupt_after(0.1)
        timer = server.resume_after(0.4)
        with pytest.raises(KeyboardInterrupt), redis.lock("ctrl-c", timeout=30):
            pytest.fail("interrupted while acquiring")  # pragma: no cover
        timer.join()
        for _ in range(100):  # the SET completes on the loop, then the lock is given back
            if not redis.exists("lock:ctrl-c"):
                break
            time.sleep(0.02)
        assert redis.exists("lock:ctrl-c") == 0
        with redis.lock("ctrl-c", timeout=30, blocking_timeout=0) as held:
            assert held.owned()


@pytest.fixture
def interrupt_after() -> Iterator[Callable[[float], None]]:
    """Send this process a real SIGINT, as Ctrl-C does, after a delay."""
    timers: list[threading.Timer] = []

    def arm(delay: float) -> None:
        timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
        timers.append(timer)
        timer.start()

    yield arm
    for timer in timers:
        timer.cancel()


# -- cancellation at any point -------------------------------------------------------------


@pytest.mark.faces("asyncio", "trio")
async def test_cancelled_acquires_leave_no_key(face: Face, redis_config: RedisConfig) -> None:
    rng = random.Random(1234)
    cancelled = 0
    async with RedisService(redis_config) as redis:
        for _ in range(60):
            with anyio.move_on_after(rng.uniform(0, 0.002)) as scope:
                async with redis.lock("fuzz", timeout=30):
                    await anyio.sleep(0.001)
            cancelled += scope.cancelled_caught
            assert await redis.exists("lock:fuzz") == 0
            with anyio.move_on_after(rng.uniform(0, 0.002)):
                await redis.get_or_compute("fuzz", lambda: 1, ex=1)
            assert await redis.exists("flight:fuzz") == 0
            await redis.delete("fuzz")
    assert cancelled > 0  # some were cut short
