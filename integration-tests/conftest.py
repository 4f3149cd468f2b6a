"""Integration tests: real servers on loopback.

Endpoints come from the environment (``ANYSERVICES_REDIS_URL`` and friends, as printed
by ``python -m anyservices.devservers start``); when one is missing, the local server
is started for the session. A server that cannot be had fails the tests loudly: no
silent skips.

Module names must be unique across folders (``test_redis_*.py``, ``test_mongo_*.py``):
these folders are not packages, so that ``redis/`` cannot shadow the ``redis`` library.
For the same reason fixtures live here, not in per-folder conftest files (mypy cannot
tell two top-level ``conftest`` modules apart).
"""

from __future__ import annotations

import os
import uuid

import pytest
from pydantic import SecretStr

from anyservices.redis import RedisConfig

_STARTED: dict[str, str] = {}

# Which variables each devserver provides.
_NEEDS = {
    "redis": "ANYSERVICES_REDIS_URL",
    "redis-stack": "ANYSERVICES_REDIS_STACK_URL",
    "mongo": "ANYSERVICES_MONGO_URL",
    "s3": "ANYSERVICES_MINIO_ENDPOINT",
}


def server_env(name: str) -> dict[str, str]:
    """The ``ANYSERVICES_*`` variables for devserver ``name``, starting it if needed."""
    if _NEEDS[name] not in os.environ and _NEEDS[name] not in _STARTED:
        from anyservices.devservers import ensure_started  # noqa: PLC0415

        _STARTED.update(ensure_started(only=[name]))
    env = {k: v for k, v in os.environ.items() if k.startswith("ANYSERVICES_")}
    return {**_STARTED, **env}


@pytest.fixture(scope="session")
def redis_env() -> dict[str, str]:
    return server_env("redis")


@pytest.fixture(scope="session")
def redis_stack_env() -> dict[str, str]:
    return server_env("redis-stack")


@pytest.fixture(scope="session")
def mongo_env() -> dict[str, str]:
    return server_env("mongo")


@pytest.fixture(scope="session")
def s3_env() -> dict[str, str]:
    return server_env("s3")


@pytest.fixture
def redis_config(redis_env: dict[str, str]) -> RedisConfig:
    """The local Redis 7, with a namespace of its own per test."""
    return RedisConfig(
        url=SecretStr(redis_env["ANYSERVICES_REDIS_URL"]),
        namespace=f"test-{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture
def redis_stack_config(redis_stack_env: dict[str, str]) -> RedisConfig:
    """The local Redis Stack (Search, JSON), with a namespace of its own per test."""
    return RedisConfig(
        url=SecretStr(redis_stack_env["ANYSERVICES_REDIS_STACK_URL"]),
        namespace=f"test-{uuid.uuid4().hex[:12]}",
    )


# -- Redis Cluster and Sentinel (integration-tests/redis_cluster/) ---------------------
_NEEDS["redis-cluster"] = "ANYSERVICES_REDIS_CLUSTER_NODES"
_NEEDS["redis-sentinel"] = "ANYSERVICES_REDIS_SENTINELS"


@pytest.fixture(scope="session")
def redis_cluster_env() -> dict[str, str]:
    """The local 3+3 node cluster (``ANYSERVICES_REDIS_CLUSTER_NODES``), started if needed."""
    return server_env("redis-cluster")


@pytest.fixture(scope="session")
def redis_sentinel_env() -> dict[str, str]:
    """The local sentinel group (``ANYSERVICES_REDIS_SENTINELS``), started if needed."""
    return server_env("redis-sentinel")
