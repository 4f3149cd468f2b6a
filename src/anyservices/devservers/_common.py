"""Paths, ports, progress messages and waiting, shared by every local server (stdlib only)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from collections.abc import Callable, Generator
from pathlib import Path

HOST = "127.0.0.1"  # loopback only, ever
_MAX_PORT = 65535
_TAIL_LINES = 25


class DevServerError(RuntimeError):
    """A local server could not be installed, started or checked."""


def state_dir() -> Path:
    """Logs, pidfiles, data: ``$ANYSERVICES_DEVSERVERS_DIR``, else ``~/.cache/anyservices/...``."""
    default = Path.home() / ".cache" / "anyservices" / "devservers"
    path = Path(os.environ.get("ANYSERVICES_DEVSERVERS_DIR") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def port_for(name: str, default: int) -> int:
    """``ANYSERVICES_DEVSERVERS_<NAME>_PORT`` or the default."""
    key = f"ANYSERVICES_DEVSERVERS_{name.upper().replace('-', '_')}_PORT"
    return parse_port(os.environ.get(key) or str(default), key)


def parse_port(value: str, what: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= _MAX_PORT:
        raise ValueError(f"{what} must be a port number (1-{_MAX_PORT}), not {value!r}")
    return int(value)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def log(message: str) -> None:
    """A progress message, on stderr (stdout carries only the ``export`` lines)."""
    print(f"devservers: {message}", file=sys.stderr, flush=True)


def is_listening(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = _TAIL_LINES) -> str:
    """The last lines of a log file, for error messages."""
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").rstrip().splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text) or "    (empty log)"


def wait_until(
    check: Callable[[], bool],
    what: str,
    logfile: Path,
    *,
    timeout: float,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``check`` until true; fail after ``timeout``, or as soon as ``alive`` turns false."""
    deadline = time.monotonic() + timeout
    while not check():
        if alive is not None and not alive():
            raise DevServerError(
                f"{what} exited during start-up; last lines of {logfile}:\n{tail(logfile)}"
            )
        if time.monotonic() > deadline:
            raise DevServerError(
                f"{what} did not answer within {timeout:.0f} s; "
                f"last lines of {logfile}:\n{tail(logfile)}"
            )
        time.sleep(0.1)


@contextlib.contextmanager
def file_lock(name: str) -> Generator[None]:
    """Hold ``<state>/<name>.lock`` so that two ``start`` commands never race for one server."""
    with (state_dir() / f"{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
