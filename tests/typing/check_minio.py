"""Never executed: pins MinioService's async and sync types for mypy and pyright."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import timedelta
from typing import assert_type

from minio.api import Minio  # "minio" alone is tests/minio for pyright

from anyservices import blocking
from anyservices.minio import (
    MinioConfig,
    MinioService,
    MinioStatistics,
    ObjectStat,
    SyncMinioService,
)


def check_sync() -> None:
    with blocking(MinioService(MinioConfig(default_bucket="bkt"))) as s3:
        assert_type(s3, SyncMinioService)
        assert_type(s3.client, Minio)
        assert_type(s3.health_check(), list[str])
        assert_type(s3.bucket_exists("bkt"), bool)
        assert_type(s3.ensure_bucket("other"), None)
        assert_type(s3.list_buckets(), list[str])
        assert_type(s3.upload_data("k", b"x", content_type="text/plain"), str)
        assert_type(s3.upload_data("k", iter([b"a", b"b"])), str)
        assert_type(s3.upload_file("k", "local.bin", progress=lambda d, t: None), str)
        assert_type(s3.download_data("k"), bytes)
        assert_type(s3.download_stream("k", chunk_size=1024), Iterator[bytes])
        assert_type(s3.download_file("k", "local.bin"), None)
        assert_type(s3.list_objects(prefix="a/"), list[str])
        assert_type(s3.iter_objects(), Iterator[str])
        assert_type(s3.remove_object("k"), None)
        assert_type(s3.stat_object("k"), ObjectStat)
        assert_type(s3.generate_presigned_url("k", method="PUT", expires=timedelta(minutes=1)), str)
        assert_type(s3.statistics(), MinioStatistics)


async def check_async() -> None:
    async with MinioService(MinioConfig(default_bucket="bkt")) as s3:
        assert_type(await s3.download_data("k"), bytes)
        assert_type(s3.download_stream("k"), AsyncIterator[bytes])
        assert_type(await s3.upload_data("k", b"x"), str)
        assert_type(await s3.stat_object("k"), ObjectStat)
        assert_type((await s3.stat_object("k")).metadata, Mapping[str, str])
        assert_type((await s3.stat_object("k")).user_metadata, dict[str, str])
        assert_type(s3.client, Minio)
        assert_type(await s3.health_check(), list[str])
        assert_type(await s3.ensure_bucket("bkt"), None)
        assert_type(await s3.list_objects(), list[str])
