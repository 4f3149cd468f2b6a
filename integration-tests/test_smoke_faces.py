"""Every service opens and answers on every face (asyncio, trio, the sync face)."""

from __future__ import annotations

from anyservices._demo._server import document_server
from anyservices.http import HttpConfig, HttpService
from anyservices.minio import MinioConfig, MinioService
from anyservices.mongo import MongoConfig, MongoService
from anyservices.redis import RedisConfig, RedisService
from anyservices.testing import Face, open_face


async def test_redis_answers(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        assert await redis.ping() is True


async def test_mongo_answers(face: Face, mongo_env: dict[str, str]) -> None:
    config = MongoConfig.from_env(environ=mongo_env)
    async with open_face(face, MongoService(config)) as mongo:
        assert (await mongo.ping())["ok"] == 1


async def test_s3_answers(face: Face, s3_env: dict[str, str]) -> None:
    config = MinioConfig.from_env(environ=s3_env)
    async with open_face(face, MinioService(config)) as s3:
        assert isinstance(await s3.health_check(), list)


async def test_http_answers(face: Face) -> None:
    with document_server() as source:
        async with open_face(face, HttpService(HttpConfig(base_url=source))) as http:
            assert (await http.get("/health")).text == "ok"
