"""The health checker against the real servers: Redis, MongoDB, S3 and a local HTTP server.

The async tests run on asyncio and trio; the CLI tests (plain functions, so they run
in the sync session) start ``python -m anyservices health`` as a subprocess.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator

import anyio
import pytest
from pydantic import SecretStr

from anyservices._core._service import State
from anyservices._demo._server import document_server
from anyservices.health import check_env_health, check_health, services_from_env
from anyservices.http import HttpConfig, HttpNotFoundError, HttpService
from anyservices.minio import MinioConfig, MinioNotFoundError, MinioService
from anyservices.mongo import MongoConfig, MongoService
from anyservices.redis import RedisConfig, RedisService
from anyservices.testing import Face, open_face
from anyservices.testing._cleanup import drop_redis_namespace

# check_health is async; its sync entry point is the CLI, tested by the plain tests below.
pytestmark = pytest.mark.faces("asyncio", "trio")

_KEEP = ("ANYSERVICES_REDIS_", "ANYSERVICES_MONGO_", "ANYSERVICES_MINIO_")


@pytest.fixture
def http_url() -> Iterator[str]:
    """A small local HTTP server (the demo's): ``/health`` answers 200."""
    with document_server() as url:
        yield url


@pytest.fixture
def live_env(
    redis_env: dict[str, str], mongo_env: dict[str, str], s3_env: dict[str, str], http_url: str
) -> dict[str, str]:
    """``ANYSERVICES_*`` variables naming all four live servers (and nothing else)."""
    env = {
        key: value
        for key, value in {**redis_env, **mongo_env, **s3_env}.items()
        if key.startswith(_KEEP) and not key.startswith("ANYSERVICES_REDIS_STACK")
    }
    env["ANYSERVICES_HTTP_BASE_URL"] = http_url
    env["ANYSERVICES_HTTP_HEALTH_PATH"] = "/health"
    return env


@pytest.fixture
def full_env(live_env: dict[str, str], redis_stack_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``live_env`` plus Redis Stack and a job queue of its own on the local Redis."""
    namespace = f"health-{uuid.uuid4().hex[:12]}"
    env = {
        **live_env,
        "ANYSERVICES_REDIS_STACK_URL": redis_stack_env["ANYSERVICES_REDIS_STACK_URL"],
        "ANYSERVICES_QUEUE_NAME": "health",
        "ANYSERVICES_QUEUE_REDIS__URL": live_env["ANYSERVICES_REDIS_URL"],
        "ANYSERVICES_QUEUE_REDIS__NAMESPACE": namespace,
    }
    yield env
    # Opening the queue created its streams: remove them.
    config = RedisConfig(url=SecretStr(live_env["ANYSERVICES_REDIS_URL"]))
    assert anyio.run(drop_redis_namespace, config, namespace) > 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def dead_redis_url() -> str:
    """A Redis URL on a loopback port nothing listens on."""
    return f"redis://127.0.0.1:{_free_port()}/0"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog does) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


# -- in process ---------------------------------------------------------------------


async def test_every_service_is_up(live_env: dict[str, str], http_url: str) -> None:
    report = await check_env_health(live_env, deadline=10)
    assert report.ok, report.format_table()
    assert [s.name for s in report.services] == ["redis", "mongo", "minio", "http"]
    targets = {s.name: s.target for s in report.services}
    assert targets["redis"] == live_env["ANYSERVICES_REDIS_URL"]
    assert targets["mongo"].startswith(live_env["ANYSERVICES_MONGO_URL"])
    assert targets["minio"].startswith(f"http://{live_env['ANYSERVICES_MINIO_ENDPOINT']}")
    assert targets["http"] == http_url
    assert all(s.error is None and s.latency_ms is not None for s in report.services)
    assert report.summary() == "4 up, 0 down"


async def test_a_dead_redis_is_down_with_its_error_while_the_others_are_up(
    live_env: dict[str, str], dead_redis_url: str
) -> None:
    report = await check_env_health(
        {**live_env, "ANYSERVICES_REDIS_URL": dead_redis_url}, deadline=10
    )
    redis, *others = report.services
    assert redis.name == "redis"
    assert not redis.ok
    assert redis.target == dead_redis_url
    assert redis.error is not None
    assert redis.error.startswith(f"RedisConnectError: could not connect to {dead_redis_url}")
    assert [(s.name, s.ok) for s in others] == [("mongo", True), ("minio", True), ("http", True)]
    assert report.down == ("redis",)


async def test_a_server_that_never_answers_is_cut_off_at_the_deadline(
    redis_env: dict[str, str], silent_port: int
) -> None:
    hung = RedisService(RedisConfig(host="127.0.0.1", port=silent_port))
    live = RedisService(RedisConfig(url=SecretStr(redis_env["ANYSERVICES_REDIS_URL"])))
    report = await check_health({"hung": hung, "live": live}, deadline=0.5)
    assert [(s.name, s.ok, s.error) for s in report.services] == [
        ("hung", False, "no answer within 0.5 s"),
        ("live", True, None),
    ]
    assert hung.state is State.CLOSED
    assert live.state is State.CLOSED


async def test_open_services_are_probed_and_stay_open(
    redis_config: RedisConfig, mongo_env: dict[str, str]
) -> None:
    async with RedisService(redis_config) as redis, MongoService(MongoConfig.from_env()) as mongo:
        report = await check_health([redis, mongo], deadline=10)
        assert [(s.name, s.ok) for s in report.services] == [("redis", True), ("mongo", True)]
        assert redis.state is State.OPEN
        assert mongo.state is State.OPEN
        assert await redis.ping()
        assert await mongo.ping()


async def test_s3_problems_say_why(s3_env: dict[str, str]) -> None:
    missing = f"health-missing-{uuid.uuid4().hex[:12]}"
    base = MinioConfig.from_env()
    no_bucket = MinioService(base.model_copy(update={"default_bucket": missing}))
    wrong_secret = MinioService(
        base.model_copy(update={"secret_key": SecretStr("wrong-hunter2-secret")})
    )
    report = await check_health({"no-bucket": no_bucket, "wrong-secret": wrong_secret}, deadline=10)
    errors = {s.name: s.error for s in report.services}
    assert errors["no-bucket"] == (
        f"MinioNotFoundError: the default bucket {missing!r} does not exist"
        f" (service='minio', operation='probe', resource={missing!r})"
    )
    if s3_env.get("ANYSERVICES_S3_SERVER") == "moto":  # checks no signature: the probe passes
        assert errors["wrong-secret"] is None
    else:
        assert errors["wrong-secret"] is not None
        assert errors["wrong-secret"].startswith("MinioAuthenticationError:")
    assert "hunter2" not in report.format_table()


async def test_an_http_error_status_is_down_naming_it(http_url: str) -> None:
    report = await check_env_health(
        {"ANYSERVICES_HTTP_BASE_URL": http_url, "ANYSERVICES_HTTP_HEALTH_PATH": "/nope"},
        deadline=10,
    )
    (http,) = report.services
    assert http.error == (
        f"HttpNotFoundError: GET {http_url}/nope returned 404 Not Found "
        f"(service='http', operation='GET', resource='{http_url}/nope')"
    )


async def test_redis_stack_and_the_queue_are_checked_when_configured(
    full_env: dict[str, str],
) -> None:
    report = await check_env_health(full_env, deadline=10)
    assert report.ok, report.format_table()
    assert [s.name for s in report.services] == [
        "redis",
        "redis-stack",
        "mongo",
        "minio",
        "http",
        "queue",
    ]
    targets = {s.name: s.target for s in report.services}
    assert targets["redis-stack"] == full_env["ANYSERVICES_REDIS_STACK_URL"]
    assert targets["queue"] == f"health on {full_env['ANYSERVICES_REDIS_URL']}"


async def test_a_queue_on_a_dead_redis_is_down(dead_redis_url: str) -> None:
    report = await check_env_health({"ANYSERVICES_QUEUE_REDIS__URL": dead_redis_url}, deadline=10)
    (queue,) = report.services
    assert (queue.name, queue.ok) == ("queue", False)
    assert queue.error is not None
    assert queue.error.startswith(f"RedisConnectError: could not connect to {dead_redis_url}")


# -- each service's probe, on every face ---------------------------------------------


@pytest.mark.faces("asyncio", "trio", "sync")
async def test_each_service_probe_passes_on_every_face(
    face: Face, live_env: dict[str, str]
) -> None:
    services = services_from_env(live_env).services
    assert list(services) == ["redis", "mongo", "minio", "http"]
    for service in services.values():
        async with open_face(face, service) as opened:
            await opened.probe()  # returns when ready (raises the reason otherwise)


@pytest.mark.faces("asyncio", "trio", "sync")
async def test_a_probe_raises_the_reason_on_every_face(
    face: Face, s3_env: dict[str, str], http_url: str
) -> None:
    missing = f"health-missing-{uuid.uuid4().hex[:12]}"
    no_bucket = MinioService(MinioConfig.from_env(default_bucket=missing))
    async with open_face(face, no_bucket) as minio:
        with pytest.raises(MinioNotFoundError, match="does not exist"):
            await minio.probe()
    no_health = HttpService(HttpConfig(base_url=http_url, health_path="/nope"))
    async with open_face(face, no_health) as http:
        with pytest.raises(HttpNotFoundError, match="returned 404"):
            await http.probe()


# -- the CLI, as a subprocess ---------------------------------------------------------


def _health(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANYSERVICES_")}
    return subprocess.run(
        [sys.executable, "-m", "anyservices", "health", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_prints_the_table_and_exits_0_when_all_are_up(live_env: dict[str, str]) -> None:
    result = _health(live_env, "--deadline", "10")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SERVICE", "STATUS", "LATENCY", "TARGET", "/", "ERROR"]
    assert [line.split()[:2] for line in lines[1:5]] == [
        ["redis", "up"],
        ["mongo", "up"],
        ["minio", "up"],
        ["http", "up"],
    ]
    assert lines[5:] == ["4 up, 0 down"]


def test_cli_exits_1_when_a_service_is_down(live_env: dict[str, str], dead_redis_url: str) -> None:
    result = _health({**live_env, "ANYSERVICES_REDIS_URL": dead_redis_url})
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""
    redis_line = result.stdout.splitlines()[1]
    assert redis_line.split()[:2] == ["redis", "DOWN"]
    assert f"RedisConnectError: could not connect to {dead_redis_url}" in redis_line
    assert result.stdout.endswith("3 up, 1 down (redis)\n")


def test_cli_exits_1_on_a_bad_value_without_a_traceback(live_env: dict[str, str]) -> None:
    result = _health({**live_env, "ANYSERVICES_MONGO_URL": "http://user:hunter2@127.0.0.1:27030"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""
    mongo_line = result.stdout.splitlines()[2]
    assert mongo_line.split()[:4] == ["mongo", "DOWN", "-", "ANYSERVICES_MONGO_*"]
    assert mongo_line.endswith(
        "misconfigured: ANYSERVICES_MONGO_URL: must be a mongodb:// or mongodb+srv:// URL"
    )
    assert "hunter2" not in result.stdout
    assert result.stdout.endswith("3 up, 1 down (mongo)\n")


def test_cli_json_is_one_object_with_every_service(full_env: dict[str, str]) -> None:
    result = _health(full_env, "--json", "--deadline", "10")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["summary"] == "6 up, 0 down"
    assert list(data["services"]) == ["redis", "redis-stack", "mongo", "minio", "http", "queue"]
    for entry in data["services"].values():
        assert entry["ok"] is True
        assert entry["reason"] is None
        assert entry["elapsed_ms"] >= 0


def test_cli_json_exits_1_naming_the_reason_without_secrets(
    live_env: dict[str, str], dead_redis_url: str
) -> None:
    secret_url = dead_redis_url.replace("redis://", "redis://user:hunter2@")
    # A generous deadline: under a loaded CI run the HTTP probe once missed the default 5 s.
    result = _health(
        {**live_env, "ANYSERVICES_REDIS_URL": secret_url}, "--json", "--deadline", "20"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "hunter2" not in result.stdout
    data = json.loads(result.stdout)
    redis = data["services"]["redis"]
    assert redis["ok"] is False
    assert redis["reason"].startswith(f"RedisConnectError: could not connect to {dead_redis_url}")
    assert redis["target"] == dead_redis_url
    up = [name for name, entry in data["services"].items() if entry["ok"]]
    assert up == ["mongo", "minio", "http"], data


def test_cli_exits_2_when_nothing_is_configured() -> None:
    result = _health({})
    assert result.returncode == 2
    assert result.stdout.startswith("no services configured")
