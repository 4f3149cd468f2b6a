"""Smaller paths of MinioService on the local S3 server, on asyncio, trio and the sync face."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from anyservices.minio import MinioConfig, MinioService
from anyservices.minio import _service as minio_service
from anyservices.testing import Face, open_face


async def test_probe_passes_when_the_default_bucket_exists(
    face: Face, minio_config: MinioConfig
) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        await s3.probe()  # returns: the bucket was created on open


async def test_bytes_with_progress_report_start_and_end(
    face: Face, minio_config: MinioConfig
) -> None:
    seen: list[tuple[int, int | None]] = []
    payload = b"p" * 3000
    async with open_face(face, MinioService(minio_config)) as s3:
        await s3.upload_data(
            "p.bin", payload, progress=lambda done, total: seen.append((done, total))
        )
        assert seen == [(0, 3000), (3000, 3000)]
        seen.clear()
        assert await s3.download_data("p.bin", progress=lambda d, t: seen.append((d, t))) == payload
        assert seen[-1] == (3000, 3000)
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)


async def test_empty_chunks_in_a_stream_are_skipped(face: Face, minio_config: MinioConfig) -> None:
    async def with_gaps() -> AsyncIterator[bytes]:
        for part in [b"", b"ab", b"", b"", b"cd", b""]:
            yield part

    async with open_face(face, MinioService(minio_config)) as s3:
        if face == "sync":  # the sync face takes plain iterables
            await s3.upload_stream("gaps.bin", [b"", b"ab", b"", b"cd"], length=4)
        else:
            await s3.upload_stream("gaps.bin", with_gaps(), length=4)
        assert await s3.download_data("gaps.bin") == b"abcd"


async def test_listing_more_objects_than_one_batch(
    face: Face, minio_config: MinioConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(minio_service, "_LIST_BATCH", 3)  # a page of 3 instead of 1,000
    async with open_face(face, MinioService(minio_config)) as s3:
        for i in range(8):
            await s3.upload_data(f"many/{i}", b"x")
        assert await s3.list_objects(prefix="many/") == [f"many/{i}" for i in range(8)]
