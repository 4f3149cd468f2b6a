"""Removing what a test left on a real server: its Redis namespace, Mongo database, S3 bucket.

Each helper opens a service of its own on the caller's event loop (the test's service
may be closed, or on another face), removes everything, and closes it.
"""

from __future__ import annotations

import functools

from ..minio import MinioConfig, MinioService
from ..mongo import MongoConfig, MongoService
from ..redis import RedisConfig, RedisService

__all__ = ("drop_mongo_database", "drop_redis_namespace", "remove_bucket")

_BATCH = 500


async def drop_redis_namespace(config: RedisConfig, namespace: str) -> int:
    """Delete every key under ``namespace:``; return how many were deleted."""
    pattern = f"{_escaped(namespace)}:*"
    plain = config.model_copy(update={"namespace": None, "decode_responses": True})
    async with RedisService(plain) as redis:
        keys: list[str] = []
        cursor = "0"
        while True:
            cursor, page = await redis.execute_command(
                "SCAN", cursor, "MATCH", pattern, "COUNT", _BATCH
            )
            keys += page
            if cursor == "0":
                break
        deleted = 0
        for start in range(0, len(keys), _BATCH):
            deleted += int(await redis.execute_command("UNLINK", *keys[start : start + _BATCH]))
    return deleted


def _escaped(namespace: str) -> str:
    """``namespace`` as a literal in a SCAN pattern."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in namespace)


async def drop_mongo_database(config: MongoConfig) -> None:
    """Drop the config's database."""
    async with MongoService(config) as mongo:
        drop = functools.partial(mongo._mongo_client.drop_database, config.database)  # noqa: SLF001 -- no public drop: a test helper only
        await mongo._run(drop, "dropDatabase", None)  # noqa: SLF001 -- the service's error mapping


async def remove_bucket(config: MinioConfig, bucket: str) -> None:
    """Remove every object of ``bucket``, then the bucket; a missing bucket is fine."""
    async with MinioService(config.model_copy(update={"default_bucket": None})) as minio:
        if not await minio.bucket_exists(bucket):
            return
        for name in await minio.list_objects(bucket_name=bucket, recursive=True):
            await minio.remove_object(name, bucket_name=bucket)
        await minio.remove_bucket(bucket)
