"""A Redis Cluster of 3 primaries and 3 replicas (Debian's ``redis-server``), ready in ~2 s.

Ports ``P`` to ``P+5`` with ``P`` = ``ANYSERVICES_DEVSERVERS_REDIS_CLUSTER_PORT`` (7000); every
node keeps its data and ``nodes.conf`` under ``<state>/redis-cluster/<port>``, wiped at each
start, so a start always builds a fresh cluster.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from ._common import HOST, DevServerError, state_dir, wait_until
from ._install import ensure_apt, run_step
from ._probes import RespError, redis_command
from ._server import Server

NODES = 6
_START_TIMEOUT = 20.0


class RedisCluster(Server):
    """Six ``redis-server --cluster-enabled yes`` nodes joined by ``redis-cli --cluster create``."""

    name = "redis-cluster"
    default_port = 7000
    variable = "ANYSERVICES_REDIS_CLUSTER_NODES"

    @property
    def ports(self) -> list[int]:
        return [self.port + offset for offset in range(NODES)]

    @property
    def home(self) -> Path:
        return state_dir() / self.name

    def addresses(self) -> list[str]:
        return [f"{HOST}:{port}" for port in self.ports]

    def env(self) -> dict[str, str]:
        return {self.variable: ",".join(self.addresses())}

    def describe(self) -> str:
        return f"{HOST}:{self.ports[0]}-{self.ports[-1]}"

    def answers(self) -> bool:
        return all(cluster_ok(port) for port in self.ports)

    def start(self) -> None:
        server = ensure_apt("redis-server", ["redis-server"])
        cli = ensure_apt("redis-cli", ["redis-tools"])
        shutil.rmtree(self.home, ignore_errors=True)
        for port in self.ports:
            folder = self.home / str(port)
            folder.mkdir(parents=True)
            self.spawn(node_command(server, port, folder))
        for port in self.ports:
            wait_until(functools.partial(_pings, port), f"{self.name} node {port}", self.logfile,
                       timeout=_START_TIMEOUT)  # fmt: skip
        create = [cli, "--cluster", "create", *self.addresses(), "--cluster-replicas", "1",
                  "--cluster-yes"]  # fmt: skip
        run_step(create, "redis-cli --cluster create", timeout=_START_TIMEOUT)
        wait_until(self.answers, f"{self.name} cluster_state:ok", self.logfile,
                   timeout=_START_TIMEOUT)  # fmt: skip

    def verify(self) -> None:
        key = "anyservices:devservers:probe"
        try:
            redis_command(self.port, "SET", key, "1")
        except RespError as error:  # MOVED: the probe key lives on another node, as expected
            if not str(error).startswith("MOVED"):
                raise DevServerError(f"{self.name}: SET failed: {error}") from error


def node_command(server: str, port: int, folder: Path) -> list[str]:
    """One cluster node, in the foreground (its PID is recorded by ``spawn``)."""
    return [
        server, "--port", str(port), "--bind", HOST, "--cluster-enabled", "yes",
        "--cluster-config-file", str(folder / "nodes.conf"), "--cluster-node-timeout", "2000",
        "--appendonly", "no", "--save", "", "--dir", str(folder), "--daemonize", "no",
        "--logfile", str(folder / "redis.log"),
    ]  # fmt: skip


def _pings(port: int) -> bool:
    try:
        return redis_command(port, "PING", timeout=1) == b"PONG"
    except (RespError, OSError):
        return False


def cluster_ok(port: int) -> bool:
    """True when the node on ``port`` says ``cluster_state:ok``."""
    try:
        info = redis_command(port, "CLUSTER", "INFO", timeout=1)
    except (RespError, OSError, ValueError):
        return False
    return isinstance(info, bytes) and b"cluster_state:ok" in info
