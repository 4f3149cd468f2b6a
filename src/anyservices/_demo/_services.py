"""The four services of the demo, configured from ``ANYSERVICES_*`` variables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..http import HttpConfig, HttpService
from ..minio import MinioConfig, MinioService
from ..mongo import MongoConfig, MongoService
from ..redis import RedisConfig, RedisService
from ._report import BUCKET

__all__ = ("DemoServices", "demo_services")


@dataclass(frozen=True)
class DemoServices:
    http: HttpService
    s3: MinioService
    mongo: MongoService
    redis: RedisService
    #: Keys of this run only (the rate limit counts per run).
    run_id: str


def demo_services(face: str, source: str) -> DemoServices:
    """New (unopened) services; Redis keys live under ``anyservices-demo:<face>:``."""
    return DemoServices(
        http=HttpService(HttpConfig(base_url=source, health_path="/health")),
        s3=MinioService(MinioConfig.from_env(default_bucket=BUCKET, auto_create_bucket=True)),
        mongo=MongoService(MongoConfig.from_env()),
        redis=RedisService(RedisConfig.from_env(namespace=f"anyservices-demo:{face}")),
        run_id=uuid.uuid4().hex[:12],
    )
