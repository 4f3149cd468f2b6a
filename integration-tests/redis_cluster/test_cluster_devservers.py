"""The redis-cluster and redis-sentinel devservers, started from nothing on private ports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from anyservices import devservers
from anyservices.devservers._redis_cluster import cluster_ok
from anyservices.devservers._redis_sentinel import sentinel_ready

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def private(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, free_ports: Callable[..., int]
) -> Path:
    free_run = free_ports
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_DIR", str(tmp_path))
    cluster = free_run(6, 20000, 22700, bus=True)  # bus ports 30000-32700: not ephemeral
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_REDIS_CLUSTER_PORT", str(cluster))
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_REDIS_SENTINEL_PORT", str(free_run(3, 23000, 26000)))
    master = free_run(2, 26000, 29000)
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_REDIS_SENTINEL_MASTER_PORT", str(master))
    for name in ("ANYSERVICES_REDIS_CLUSTER_NODES", "ANYSERVICES_REDIS_SENTINELS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_start_env_status_stop(private: Path) -> None:
    names = ["redis-cluster", "redis-sentinel"]
    cluster = devservers.SERVERS["redis-cluster"]
    sentinel = devservers.SERVERS["redis-sentinel"]
    assert not cluster.answers()
    try:
        started = devservers.ensure_started(only=names)
        base = cluster.port
        assert started["ANYSERVICES_REDIS_CLUSTER_NODES"] == ",".join(
            f"127.0.0.1:{base + i}" for i in range(6)
        )
        assert started["ANYSERVICES_REDIS_SENTINEL_MASTER"] == "mymaster"
        assert started["ANYSERVICES_REDIS_SENTINELS"].count(",") == 2
        assert devservers.env(only=names) == started
        assert all(cluster_ok(base + i) for i in range(6))
        assert sentinel_ready(sentinel.port)
        lines = devservers.status(only=names)
        assert lines["redis-cluster"].startswith("up")
        assert "started here" in lines["redis-sentinel"]
        cluster.verify()  # a SET answered here or by MOVED
        again = devservers.ensure_started(only=names)  # they answer: reused, not restarted
        assert again == started
        assert (private / "redis-cluster" / str(base) / "nodes.conf").exists()
    finally:
        stopped = devservers.stop(only=names)
    assert set(stopped) == set(names)
    assert not cluster.answers()
    assert not sentinel.answers()
    assert cluster.describe().endswith(f"{cluster.port}-{cluster.port + 5}")
    assert "data" in sentinel.describe()
    assert not cluster_ok(1)
    assert not sentinel_ready(1)
