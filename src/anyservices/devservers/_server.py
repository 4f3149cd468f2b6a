"""What every local server provides: its port, its variables, a probe, a start and a check."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from ._common import HOST, DevServerError, is_listening, port_for, state_dir
from ._process import record, spawn


class Server:
    """One local server. Subclasses fill in the class attributes and the hooks."""

    name: str
    default_port: int
    variable: str  # set in the environment, it makes this endpoint the user's own

    @property
    def port(self) -> int:
        return port_for(self.name, self.default_port)

    @property
    def logfile(self) -> Path:
        return state_dir() / f"{self.name}.log"

    def markers(self) -> tuple[str, ...]:
        """Words in our processes' command lines: a recorded PID is only ours if one matches."""
        return (str(self.port), str(state_dir()))

    def configured(self) -> bool:
        return bool(os.environ.get(self.variable))

    def check_configured(self) -> None:
        """The user's endpoint must answer; it is never started nor stopped here."""
        where = user_endpoint(os.environ[self.variable])
        if where is not None and not is_listening(where[1], where[0], timeout=2):
            raise DevServerError(
                f"{self.variable} is set, but {where[0]}:{where[1]} does not answer. "
                f"Start that server, or unset {self.variable} to have a local {self.name} started."
            )

    def answers(self) -> bool:
        """True when our port speaks this server's protocol."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The ``ANYSERVICES_*`` variables that point the services at this server."""
        raise NotImplementedError

    def check_reused(self) -> None:
        """Something already answers on our port: make sure it will do (default: it will)."""

    def start(self) -> None:
        """Install what is missing, start the server (recording its PIDs), wait until it answers."""
        raise NotImplementedError

    def spawn(
        self, command: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a detached process of this server and record its PID at once."""
        process = spawn(command, self.logfile, env=env)
        record(self.name, [process.pid])
        return process

    def verify(self) -> None:
        """After a start: drive the server with its real client when that is importable."""

    def describe(self) -> str:
        return f"{HOST}:{self.port}"


def user_endpoint(value: str) -> tuple[str, int] | None:
    """``(host, port)`` of a user-supplied URL or ``host:port``; None when it cannot be probed."""
    if "://" not in value:
        value = f"http://{value}"
    parts = urlsplit(value)
    if parts.scheme in {"unix", "mongodb+srv"}:
        return None
    netloc = parts.netloc.rpartition("@")[2].split(",")[0]  # first host of a replica set list
    host, colon, port = netloc.rpartition(":")
    if not colon or "]" in port:  # no port, or an IPv6 literal without one
        host, port = netloc, ""
    defaults = {"redis": 6379, "rediss": 6379, "mongodb": 27017, "https": 443, "http": 80}
    if not port.isdigit():
        return (host.strip("[]"), defaults.get(parts.scheme, 80)) if host else None
    return host.strip("[]"), int(port)
