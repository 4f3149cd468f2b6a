"""Clusters and sentinel groups of the tests' own (the devservers' code, on free ports, in a
temporary folder): chaos tests reshard, fail over and kill these, never the shared ones."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from anyservices.devservers import ensure_started, stop
from anyservices.devservers._probes import redis_command


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_run(count: int, low: int, high: int, *, bus: bool = False) -> int:
    """A port P in ``low..high`` (below the ephemeral range) such that P..P+count-1 (and
    their cluster bus ports, P+10000...) can be bound now."""
    for _ in range(200):
        base = random.randrange(low, high)
        ports = range(base, base + count)
        if all(_bindable(p) and (not bus or _bindable(p + 10000)) for p in ports):
            return base
    raise RuntimeError(f"no {count} free ports in a row")


@pytest.fixture
def free_ports() -> Callable[..., int]:
    """``free_run`` for the tests (conftest modules are not imported by name)."""
    return free_run


@contextlib.contextmanager
def _devserver(
    name: str, folder: Path, ports: dict[str, int], variable: str
) -> Generator[dict[str, str], None, None]:
    """Devserver ``name`` started in ``folder`` on ``ports``; stopped and removed after."""
    names = ["ANYSERVICES_DEVSERVERS_DIR", variable, *ports]
    saved = {key: os.environ.get(key) for key in names}
    os.environ["ANYSERVICES_DEVSERVERS_DIR"] = str(folder)
    os.environ.update({key: str(port) for key, port in ports.items()})
    os.environ.pop(variable, None)
    try:
        yield ensure_started(only=[name])
    finally:
        stop(only=[name])
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def private_cluster(folder: Path) -> Generator[list[str], None, None]:
    """A fresh 3+3 node cluster of our own; yields its ``host:port`` addresses."""
    ports = {"ANYSERVICES_DEVSERVERS_REDIS_CLUSTER_PORT": free_run(6, 20000, 22700, bus=True)}
    variable = "ANYSERVICES_REDIS_CLUSTER_NODES"
    with _devserver("redis-cluster", folder, ports, variable) as env:
        yield env[variable].split(",")


@contextlib.contextmanager
def private_sentinel(folder: Path) -> Generator[list[int], None, None]:
    """A fresh master, replica and 3 sentinels of our own; yields the sentinels' ports.

    The first master refuses writes without a replica (``min-replicas-to-write 1``): once
    its replica is promoted (and hangs up) it accepts no writes its successor never sees.
    The default ``min-replicas-max-lag`` (10 s) stays: 1 s would refuse writes now and
    then while all is well (replicas report once a second, the lag is counted in whole
    seconds). Not on the replica: promoted, it would refuse writes until the old master
    follows it (~10 s).
    """
    data, sentinels = free_run(2, 26000, 29000), free_run(3, 23000, 26000)
    ports = {"ANYSERVICES_DEVSERVERS_REDIS_SENTINEL_PORT": sentinels,
             "ANYSERVICES_DEVSERVERS_REDIS_SENTINEL_MASTER_PORT": data}  # fmt: skip
    with _devserver("redis-sentinel", folder, ports, "ANYSERVICES_REDIS_SENTINELS"):
        redis_command(data, "CONFIG", "SET", "min-replicas-to-write", "1")
        yield [sentinels, sentinels + 1, sentinels + 2]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """A private cluster shared by this folder's chaos tests (each leaves it whole)."""
    with private_cluster(tmp_path_factory.mktemp("cluster")) as nodes:
        yield nodes


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[list[str]]:
    """A private cluster for one test (one that kills a node)."""
    with private_cluster(tmp_path / "cluster") as nodes:
        yield nodes


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[list[int]]:
    """A private sentinel group for one test (see ``private_sentinel``)."""
    with private_sentinel(tmp_path / "sentinel") as ports:
        yield ports
