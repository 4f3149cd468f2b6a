"""Process, port and package helpers shared by the local servers (stdlib only)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HOST = "127.0.0.1"
_MAX_PORT = 65535
# Detached servers outlive us on purpose; keeping their Popen objects avoids the
# "still running" ResourceWarning a collected Popen would raise.
_DETACHED: list[subprocess.Popen[bytes]] = []


def state_dir() -> Path:
    """Where logs, pidfiles and data live (``ANYSERVICES_DEVSERVERS_DIR`` overrides)."""
    default = Path.home() / ".cache" / "anyservices" / "devservers"
    path = Path(os.environ.get("ANYSERVICES_DEVSERVERS_DIR", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def port_for(name: str, default: int) -> int:
    """``ANYSERVICES_DEVSERVERS_<NAME>_PORT`` or the default."""
    key = f"ANYSERVICES_DEVSERVERS_{name.upper().replace('-', '_')}_PORT"
    value = os.environ.get(key, str(default))
    if not value.isdigit() or not 0 < int(value) <= _MAX_PORT:
        raise ValueError(f"{key} must be a port number, not {value!r}")
    return int(value)


def log(message: str) -> None:
    print(f"devservers: {message}", file=sys.stderr, flush=True)


def is_listening(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_ping(port: int, host: str = HOST) -> bool:
    """True when a Redis server answers PING on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def wait_until(check: Callable[[], bool], what: str, logfile: Path, timeout: float = 60) -> None:
    """Poll ``check`` until it is true; on timeout, fail with the tail of the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    tail = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else "(no log)"
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s; log {logfile}:\n{tail}")


def spawn(name: str, command: Sequence[str], env: dict[str, str] | None = None) -> int:
    """Start ``command`` detached (it outlives us), log to <state>/<name>.log, record its pid."""
    directory = state_dir()
    logfile = directory / f"{name}.log"
    with logfile.open("ab") as out:
        process = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=directory,
        )
    _DETACHED.append(process)
    (directory / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def logfile_of(name: str) -> Path:
    return state_dir() / f"{name}.log"


def stop_pid(name: str) -> bool:
    """Stop the process recorded for ``name``: SIGTERM, wait, then SIGKILL."""
    pidfile = state_dir() / f"{name}.pid"
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text().strip() or 0)
    pidfile.unlink()
    if pid <= 0:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(50):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if we are its parent
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def ensure_apt(binary: str, packages: Sequence[str]) -> str:
    """Return the path of ``binary``, installing Debian ``packages`` when it is missing."""
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError(f"{binary} is missing; install {' '.join(packages)} (needs root)")
    log(f"installing {' '.join(packages)} with apt-get ...")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    if run_quietly(install, check=False) != 0:
        run_quietly(["apt-get", "update", "-qq"])
        run_quietly(install)
    found = shutil.which(binary)
    if not found:
        raise RuntimeError(f"{binary} still missing after installing {' '.join(packages)}")
    return found


def run_quietly(command: Sequence[str], *, check: bool = True, cwd: Path | None = None) -> int:
    """Run an install step with its output hidden; return its exit code."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        list(command),
        check=check,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return done.returncode


def ensure_pip(module: str, requirement: str) -> None:
    """Install ``requirement`` into this interpreter's environment if ``module`` is missing."""
    try:
        __import__(module)
    except ImportError:
        log(f"installing {requirement} with pip ...")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", requirement],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def bin_beside_python(name: str) -> str:
    """A console script installed beside this interpreter (venvs are not always on PATH)."""
    candidate = Path(sys.executable).with_name(name)
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed")
    return found
