"""Servers of a test's own: a private redis-server, and a socket server that never answers.

Chaos tests kill, stop and starve these, never the shared devservers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

from anyservices.redis import RedisConfig


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server on a free port: started, killed (SIGKILL), paused and resumed at will."""

    def __init__(self, directory: Path, *extra: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed")
        self.port = free_port()
        self.unix_socket = str(directory / "redis.sock")
        self._command = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--unixsocket", self.unix_socket,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(directory),
            *extra,
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(500):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1):
                    return
            except OSError:
                if self._process.poll() is not None:
                    break
                time.sleep(0.01)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        """SIGKILL: no goodbye to the clients."""
        if self._process is not None:
            self.resume()
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, nothing answers."""
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGCONT)

    def config(self, **fields: object) -> RedisConfig:
        return RedisConfig.model_validate(
            {"port": self.port, "socket_connect_timeout": 2, **fields}
        )


@pytest.fixture
def private_redis(tmp_path: Path) -> Generator[PrivateRedis]:
    """A started redis-server of this test's own (killed at the end)."""
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_redis_with(tmp_path: Path) -> Generator[Callable[..., PrivateRedis]]:
    """Starts private redis-servers with options: ``private_redis_with("--requirepass", pw)``."""
    servers: list[PrivateRedis] = []

    def start(*extra: str) -> PrivateRedis:
        server = PrivateRedis(tmp_path / str(len(servers)), *extra)
        servers.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


class SilentServer:
    """Accepts TCP connections and never sends a byte."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port: int = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _address = self._listener.accept()
            except OSError:
                return  # closed
            self._accepted.append(connection)

    @property
    def accepted(self) -> int:
        return len(self._accepted)

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)
        for connection in self._accepted:
            connection.close()


@pytest.fixture
def silent_server() -> Generator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()
