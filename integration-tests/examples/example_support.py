"""What the example tests share: the repository root, free ports, example processes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(command: list[str], env: Mapping[str, str]) -> Generator[subprocess.Popen[str]]:
    """``command`` in a subprocess at the repository root (output captured); killed if left."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def get_when_serving(process: subprocess.Popen[str], url: str) -> httpx.Response:
    """GET ``url`` once the server answers (at most 300 tries, 30 s); fail with its log."""
    for _ in range(300):
        if process.poll() is not None:
            pytest.fail(f"the server exited: {process.communicate()[0]}")
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"the server never answered: {process.communicate()[0]}")
