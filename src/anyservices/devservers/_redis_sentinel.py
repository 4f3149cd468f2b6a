"""Redis Sentinel: a master, a replica and 3 sentinels watching them as ``mymaster``, ready in ~2 s.

Sentinels on ``S`` to ``S+2`` (``ANYSERVICES_DEVSERVERS_REDIS_SENTINEL_PORT``, 26400), the master
on ``M`` and the replica on ``M+1`` (``ANYSERVICES_DEVSERVERS_REDIS_SENTINEL_MASTER_PORT``,
6400). Everything lives under ``<state>/redis-sentinel``, rewritten at each start (Sentinel
rewrites its own ``sentinel.conf``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ._common import HOST, port_for, state_dir, wait_until
from ._install import ensure_apt
from ._probes import RespError, RespValue, redis_command
from ._server import Server

MASTER_NAME = "mymaster"
SENTINELS = 3
_START_TIMEOUT = 20.0
_INFO_FRESH_MS = 30_000  # a replica's INFO older than this (or never read) is not trusted


class RedisSentinel(Server):
    """One master, one replica, three sentinels (quorum 2, down after 1 s)."""

    name = "redis-sentinel"
    default_port = 26400
    variable = "ANYSERVICES_REDIS_SENTINELS"

    @property
    def ports(self) -> list[int]:
        return [self.port + offset for offset in range(SENTINELS)]

    @property
    def master_port(self) -> int:
        return port_for("redis-sentinel-master", 6400)

    @property
    def home(self) -> Path:
        return state_dir() / self.name

    def markers(self) -> tuple[str, ...]:
        return (str(self.home),)

    def env(self) -> dict[str, str]:
        sentinels = ",".join(f"{HOST}:{port}" for port in self.ports)
        return {self.variable: sentinels, "ANYSERVICES_REDIS_SENTINEL_MASTER": MASTER_NAME}

    def describe(self) -> str:
        data = f"{self.master_port}-{self.master_port + 1}"
        return f"{HOST}:{self.ports[0]}-{self.ports[-1]} (data {data})"

    def answers(self) -> bool:
        """Every sentinel knows a master that answers, 2 other sentinels and a replica."""
        return all(sentinel_ready(port) for port in self.ports)

    def start(self) -> None:
        server = ensure_apt("redis-server", ["redis-server"])
        shutil.rmtree(self.home, ignore_errors=True)
        master, replica = self.master_port, self.master_port + 1
        for port, extra in ((master, []), (replica, ["--replicaof", HOST, str(master)])):
            folder = self.home / str(port)
            folder.mkdir(parents=True)
            self.spawn([server, "--port", str(port), "--bind", HOST, "--save", "",
                        "--appendonly", "no", "--dir", str(folder), "--daemonize", "no",
                        "--logfile", str(folder / "redis.log"), *extra])  # fmt: skip
        for port in self.ports:
            folder = self.home / str(port)
            folder.mkdir(parents=True)
            conf = folder / "sentinel.conf"
            conf.write_text(sentinel_conf(port, folder, master))
            self.spawn([server, str(conf), "--sentinel"])
        wait_until(self.answers, f"{self.name} (3 sentinels, 1 replica)", self.logfile,
                   timeout=_START_TIMEOUT)  # fmt: skip


def sentinel_conf(port: int, folder: Path, master_port: int) -> str:
    return "\n".join([
        f"port {port}", f"bind {HOST}", "daemonize no", f'dir "{folder}"',
        f'logfile "{folder / "sentinel.log"}"',
        f"sentinel monitor {MASTER_NAME} {HOST} {master_port} 2",
        f"sentinel down-after-milliseconds {MASTER_NAME} 1000",
        f"sentinel failover-timeout {MASTER_NAME} 5000", "",
    ])  # fmt: skip


def _fields(reply: RespValue) -> dict[bytes, RespValue]:
    items = reply if isinstance(reply, list) else []
    return {k: v for k, v in zip(items[::2], items[1::2], strict=False) if isinstance(k, bytes)}


def sentinel_ready(port: int) -> bool:
    """The sentinel on ``port`` sees its master up, 2 other sentinels and a promotable replica."""
    try:
        fields = _fields(redis_command(port, "SENTINEL", "MASTER", MASTER_NAME, timeout=1))
        master = redis_command(port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME, timeout=1)
        if not isinstance(master, list) or not isinstance(master[1], bytes):
            return False
        pong = redis_command(int(master[1]), "PING", timeout=1)
        replicas = redis_command(port, "SENTINEL", "REPLICAS", MASTER_NAME, timeout=1)
    except (RespError, OSError, ValueError, IndexError):
        return False
    flags = fields.get(b"flags")
    return (
        pong == b"PONG"
        and isinstance(flags, bytes)
        and b"down" not in flags
        and fields.get(b"num-other-sentinels") == b"2"
        and isinstance(replicas, list)
        and any(promotable(_fields(replica)) for replica in replicas)
    )


def promotable(replica: dict[bytes, RespValue]) -> bool:
    """A replica Sentinel would promote: up, linked to its master, and already asked for INFO
    (until then ``SENTINEL FAILOVER`` answers NOGOODSLAVE; ``info-refresh`` counts from 0)."""
    refresh = replica.get(b"info-refresh")
    return (
        replica.get(b"flags") == b"slave"
        and replica.get(b"master-link-status") == b"ok"
        and isinstance(refresh, bytes)
        and int(refresh) < _INFO_FRESH_MS
    )
