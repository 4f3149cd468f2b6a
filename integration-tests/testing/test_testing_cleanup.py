"""The plugin's cleanup helpers against the real servers: a test's keys, database, bucket."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr

from anyservices.minio import MinioConfig, MinioService
from anyservices.mongo import MongoConfig, MongoService
from anyservices.redis import RedisConfig, RedisService
from anyservices.testing._cleanup import drop_mongo_database, drop_redis_namespace, remove_bucket

pytestmark = pytest.mark.faces("asyncio", "trio")  # helpers of the async plugin fixtures


def _name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


async def test_a_namespace_is_dropped_whole_and_alone(redis_env: dict[str, str]) -> None:
    url = SecretStr(redis_env["ANYSERVICES_REDIS_URL"])
    mine, neighbour, glob = _name(), _name(), f"{_name()}*?[x]"
    async with RedisService(RedisConfig(url=url, namespace=mine)) as redis:
        # More keys than one SCAN page (and than one UNLINK batch) holds.
        await redis.mset_json({f"k{i}": i for i in range(1200)})
    async with RedisService(RedisConfig(url=url, namespace=neighbour)) as other:
        await other.set("kept", "1")
    async with RedisService(RedisConfig(url=url, namespace=glob)) as globbed:
        await globbed.set("k", "1")
    try:
        assert await drop_redis_namespace(RedisConfig(url=url), mine) == 1200
        assert await drop_redis_namespace(RedisConfig(url=url), mine) == 0  # nothing left
        # The namespace is a literal, not a pattern: "<name>*?[x]" matches only itself.
        assert await drop_redis_namespace(RedisConfig(url=url), glob[:-5]) == 0
        assert await drop_redis_namespace(RedisConfig(url=url), glob) == 1
        async with RedisService(RedisConfig(url=url, namespace=neighbour)) as other:
            assert await other.get("kept") == "1"
    finally:
        await drop_redis_namespace(RedisConfig(url=url), neighbour)


async def test_a_database_is_dropped(mongo_env: dict[str, str]) -> None:
    config = MongoConfig.from_env(mongo_env, database=_name())
    async with MongoService(config) as mongo:
        await mongo.insert_one("things", {"a": 1})
        names = await mongo._run(mongo._mongo_client.list_database_names, "listDatabases", None)
        assert config.database in names
        await drop_mongo_database(config)
        names = await mongo._run(mongo._mongo_client.list_database_names, "listDatabases", None)
        assert config.database not in names


async def test_a_bucket_is_emptied_and_removed_and_a_missing_one_is_fine(
    s3_env: dict[str, str],
) -> None:
    bucket = _name()
    config = MinioConfig.from_env(s3_env, default_bucket=bucket, auto_create_bucket=True)
    async with MinioService(config) as minio:
        await minio.upload_data("a.txt", b"a")
        await minio.upload_data("deep/down/b.txt", b"b")
        await remove_bucket(config, bucket)
        assert not await minio.bucket_exists(bucket)
        await remove_bucket(config, bucket)  # already gone: nothing to do
        assert not await minio.bucket_exists(bucket)
