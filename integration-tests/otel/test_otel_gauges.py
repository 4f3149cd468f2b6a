"""Pool and worker-thread gauges, read at each collection while a service is open."""

from __future__ import annotations

from typing import Any

from anyservices._core._gauges import GAUGES
from anyservices.http import HttpConfig, HttpService
from anyservices.minio import MinioConfig, MinioService
from anyservices.mongo import MongoConfig, MongoService
from anyservices.redis import RedisConfig, RedisService
from anyservices.testing import Face, open_face
from otel_support import Recorded, attrs, otel

__all__ = ("otel",)


def gauges(otel: Recorded) -> dict[tuple[str, str], tuple[int, str]]:
    """``{(gauge, service): (value, target)}`` of one collection (each ``points()`` call
    collects)."""
    found: dict[tuple[str, str], tuple[int, str]] = {}
    for name in GAUGES:
        for point in otel.points(name):
            values: dict[str, Any] = attrs(point)
            key = (name, values["anyservices.service"])
            found[key] = (int(point.value), values["anyservices.target"])
    return found


async def test_redis_and_mongo_report_pools_and_threads_while_open(
    face: Face,
    redis_config: RedisConfig,
    mongo_env: dict[str, str],
    s3_env: dict[str, str],
    otel: Recorded,
) -> None:
    http_url = f"http://{s3_env['ANYSERVICES_MINIO_ENDPOINT']}"  # any HTTP server
    config = MongoConfig.from_env(mongo_env, database="anyservices_tests", max_pool_size=7)
    redis_service, mongo_service = RedisService(redis_config), MongoService(config)
    async with (
        open_face(face, redis_service) as redis,
        open_face(face, mongo_service) as mongo,
        open_face(face, HttpService(HttpConfig(base_url=http_url))),  # has no gauges
    ):
        assert await redis.ping()
        await mongo.ping()
        seen = gauges(otel)
    assert {service for _, service in seen} == {"redis", "mongo"}
    redis_target, mongo_target = redis_service._describe(), mongo_service._describe()
    connections, target = seen["anyservices.pool.connections", "redis"]
    assert connections >= 1
    assert target == redis_target
    assert seen["anyservices.pool.pending_replies", "redis"] == (0, redis_target)
    assert seen["anyservices.threads.limit", "mongo"] == (7, mongo_target)
    assert seen["anyservices.threads.in_use", "mongo"] == (0, mongo_target)
    assert seen["anyservices.threads.waiting", "mongo"] == (0, mongo_target)
    assert not any(service == "redis" for _, service in gauges(otel))  # closed: not reported
    assert "@" not in mongo_target  # the masked description, never credentials


async def test_minio_reports_its_worker_threads(
    face: Face, s3_env: dict[str, str], otel: Recorded
) -> None:
    config = MinioConfig.from_env(s3_env, max_concurrency=5)
    service = MinioService(config)
    async with open_face(face, service) as minio:
        await minio.list_buckets()
        seen = gauges(otel)
    target = service._describe()
    assert seen["anyservices.threads.limit", "minio"] == (5, target)
    assert seen["anyservices.threads.in_use", "minio"] == (0, target)
    assert seen["anyservices.threads.waiting", "minio"] == (0, target)
    assert config.secret_key.get_secret_value() not in target
    assert not any(service == "minio" for _, service in gauges(otel))
