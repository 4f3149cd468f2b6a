"""RedisConfig's cluster and sentinel settings: address lists, what a cluster refuses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from anyservices.redis import RedisConfig
from anyservices.redis._slots import parse_address


def test_defaults_are_standalone() -> None:
    config = RedisConfig()
    assert config.mode == "standalone"
    assert config.cluster_nodes == ()
    assert config.read_from_replicas is False
    assert config.cluster_retry_timeout > 0


def test_cluster_nodes_from_a_string_or_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    config = RedisConfig(mode="cluster", cluster_nodes=" 127.0.0.1:7000, h:7001 ,")  # pyright: ignore[reportArgumentType]
    assert config.cluster_nodes == ("127.0.0.1:7000", "h:7001")
    assert config.describe() == "redis-cluster://127.0.0.1:7000,h:7001"
    monkeypatch.setenv("ANYSERVICES_REDIS_MODE", "cluster")
    monkeypatch.setenv("ANYSERVICES_REDIS_CLUSTER_NODES", "127.0.0.1:7000,127.0.0.1:7001")
    assert RedisConfig.from_env().cluster_nodes == ("127.0.0.1:7000", "127.0.0.1:7001")


def test_sentinel_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_REDIS_MODE", "sentinel")
    monkeypatch.setenv("ANYSERVICES_REDIS_SENTINELS", "127.0.0.1:26400,[::1]:26401")
    monkeypatch.setenv("ANYSERVICES_REDIS_SENTINEL_MASTER", "mymaster")
    config = RedisConfig.from_env()
    assert config.sentinels == ("127.0.0.1:26400", "[::1]:26401")
    assert config.describe() == "redis-sentinel://127.0.0.1:26400,[::1]:26401/mymaster"
    assert parse_address("[::1]:26401", "sentinels") == ("::1", 26401)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"mode": "cluster"}, "cluster_nodes"),
        ({"mode": "cluster", "cluster_nodes": ["h:1"], "db": 1}, "db"),
        ({"mode": "cluster", "cluster_nodes": ["h:1"], "namespace": "a{b"}, "namespace"),
        ({"mode": "cluster", "cluster_nodes": ["h:1"], "namespace": "a}b"}, "namespace"),
        ({"mode": "cluster", "cluster_nodes": ["h:1"], "url": "redis://h:1/2"}, "db"),
        ({"mode": "sentinel"}, "sentinels"),
        ({"mode": "sentinel", "sentinels": ["h:1"]}, "sentinel_master"),
        ({"cluster_nodes": ["nope"]}, "cluster_nodes"),
        ({"cluster_nodes": [":1"]}, "cluster_nodes"),
        ({"sentinels": ["h:0"]}, "sentinels"),
        ({"sentinels": ["h:99999"]}, "sentinels"),
        ({"mode": "cluster", "cluster_nodes": ["h:1"], "cluster_retry_timeout": 0}, "retry"),
        ({"mode": "replicated"}, "mode"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        RedisConfig.model_validate(settings)


def test_a_namespace_without_braces_is_fine_on_a_cluster() -> None:
    config = RedisConfig(mode="cluster", cluster_nodes=("h:1",), namespace="app")
    assert config.namespace == "app"
