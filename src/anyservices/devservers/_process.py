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
_START_FIELD = 19  # starttime, field 22 of /proc/<pid>/stat, counted after the state


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
    """Add ``PID START-TIME`` lines to ``<state>/<name>.pid`` (the start time tells reused PIDs)."""
    with pidfile(name).open("a") as out:
        out.writelines(f"{pid} {started_at(pid)}\n" for pid in pids)


def recorded(name: str) -> list[tuple[int, int | None]]:
    """``(pid, start time)`` per line of ``<name>.pid``; None when only a PID is written there
    (Redis writes its own pidfile)."""
    path = pidfile(name)
    if not path.exists():
        return []
    entries: list[tuple[int, int | None]] = []
    for line in path.read_text().splitlines():
        words = [word for word in line.split() if word.isdigit()]
        if words:
            entries.append((int(words[0]), int(words[1]) if len(words) > 1 else None))
    return entries


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def started_at(pid: int) -> int:
    """When ``pid`` started, in clock ticks since boot (0 when it is gone)."""
    fields = _stat(pid)
    return int(fields[_START_FIELD]) if len(fields) > _START_FIELD else 0


def is_ours(pid: int, start: int | None, markers: Iterable[str]) -> bool:
    """True when ``pid`` still runs the process we recorded.

    PIDs get reused: the start time must match, or when none was recorded, the command line
    must name one of ``markers``.
    """
    fields = _stat(pid)
    if len(fields) <= _START_FIELD or fields[0] == "Z":
        return False
    if start is not None:
        return int(fields[_START_FIELD]) == start
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return any(marker in cmdline for marker in markers)


def running(name: str, markers: Iterable[str]) -> list[int]:
    marks = tuple(markers)
    return [pid for pid, start in recorded(name) if is_ours(pid, start, marks)]


def stop_recorded(name: str, markers: Iterable[str]) -> list[int]:
    """Stop the recorded processes that are still ours, newest first; remove the pidfile.

    Newest first, one at a time, so that Ceph's OSD and gateway still find their monitor
    while they shut down. Each gets SIGTERM, some seconds, then SIGKILL.
    """
    marks = tuple(markers)
    entries = [(pid, start) for pid, start in recorded(name) if is_ours(pid, start, marks)]
    for pid, start in reversed(entries):
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_WAIT
        while is_ours(pid, start, marks) and time.monotonic() < deadline:
            _reap()
            time.sleep(0.05)
        if is_ours(pid, start, marks):
            _signal(pid, signal.SIGKILL)
    _reap()
    pidfile(name).unlink(missing_ok=True)
    return [pid for pid, _ in entries]


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
