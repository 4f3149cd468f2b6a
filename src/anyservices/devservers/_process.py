"""Detached server processes: start them, record their PIDs, stop them by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ._common import state_dir

# Servers outlive the `start` command on purpose. Keeping their Popen objects avoids the
# "still running" ResourceWarning a collected Popen raises when the API runs in-process.
_DETACHED: list[subprocess.Popen[bytes]] = []
_STOP_WAIT = 10.0


def pidfile(name: str) -> Path:
    return state_dir() / f"{name}.pid"


def spawn(
    command: Sequence[str],
    logfile: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a session of its own (it outlives us), appending to ``logfile``."""
    with logfile.open("ab") as out:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=cwd or state_dir(),
        )
    _DETACHED.append(process)
    return process


def record(name: str, pids: Iterable[int]) -> None:
    """Add PIDs to ``<state>/<name>.pid`` (one per line)."""
    with pidfile(name).open("a") as out:
        out.writelines(f"{pid}\n" for pid in pids)


def recorded(name: str) -> list[int]:
    """The PIDs in ``<name>.pid``; the first word of each line (Redis writes its own pidfile)."""
    path = pidfile(name)
    if not path.exists():
        return []
    words = (line.split()[:1] for line in path.read_text().splitlines())
    return [int(word[0]) for word in words if word and word[0].isdigit()]


def is_ours(pid: int, markers: Iterable[str]) -> bool:
    """True when ``pid`` runs and its command line names one of ``markers`` (PIDs get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and any(marker in cmdline for marker in markers)


def running(name: str, markers: Iterable[str]) -> list[int]:
    marks = tuple(markers)
    return [pid for pid in recorded(name) if is_ours(pid, marks)]


def stop_recorded(name: str, markers: Iterable[str]) -> list[int]:
    """Stop the recorded processes that are still ours, newest first; remove the pidfile.

    Newest first, one at a time, so that Ceph's OSD and gateway still find their monitor
    while they shut down. Each gets SIGTERM, some seconds, then SIGKILL.
    """
    marks = tuple(markers)
    pids = running(name, marks)
    for pid in reversed(pids):
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_WAIT
        while is_ours(pid, marks) and time.monotonic() < deadline:
            _reap()
            time.sleep(0.05)
        if is_ours(pid, marks):
            _signal(pid, signal.SIGKILL)
    _reap()
    pidfile(name).unlink(missing_ok=True)
    return pids


def _signal(pid: int, signum: signal.Signals) -> None:
    """Signal the process, and its whole group when it leads one (the servers' helpers too)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def _reap() -> None:
    """Collect the exit status of servers this process started (no zombies in-process)."""
    for process in list(_DETACHED):
        if process.poll() is not None:
            _DETACHED.remove(process)
