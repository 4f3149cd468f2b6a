"""MinioService against the local S3 server, on asyncio, trio and the sync face."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from datetime import timedelta
from pathlib import Path

import anyio
import httpx
import pytest
from minio.datatypes import Object
from minio.error import MinioException, S3Error
from pydantic import SecretStr

from anyservices import ServiceClosedError
from anyservices.minio import (
    MinioAuthenticationError,
    MinioConfig,
    MinioConfigurationError,
    MinioError,
    MinioNotFoundError,
    MinioService,
    MinioStatistics,
    ObjectStat,
)
from anyservices.testing import Face, open_face
from minio import Minio

MiB = 1024 * 1024


async def chunks(total: int, size: int = 1024 * 1024, seed: int = 7) -> AsyncGenerator[bytes, None]:
    """``total`` bytes, generated on the fly (deterministic per seed)."""
    block = bytes((seed * 31 + i) % 251 for i in range(size))
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield block[:n]
        sent += n


async def test_bucket_operations(face: Face, minio_config: MinioConfig) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        bucket = minio_config.default_bucket
        assert bucket is not None
        names = await s3.health_check()
        assert bucket in names
        assert all(isinstance(name, str) for name in names)
        assert await s3.bucket_exists(bucket) is True
        assert await s3.bucket_exists(bucket_name=bucket) is True
        assert bucket in await s3.list_buckets()
        await s3.ensure_bucket(bucket)  # exists already: nothing happens
        other = bucket[:-1] + "x"
        assert await s3.bucket_exists(other) is False
        await s3.ensure_bucket(bucket_name=other)
        assert await s3.bucket_exists(other) is True
        await s3.remove_bucket(other)
        assert await s3.bucket_exists(other) is False


async def test_client_is_the_sdk(face: Face, minio_config: MinioConfig) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        client = s3.client
        assert isinstance(client, Minio)
        bucket = minio_config.default_bucket
        assert bucket is not None
        assert await anyio.to_thread.run_sync(client.bucket_exists, bucket) is True


def test_client_before_open_refused(minio_config: MinioConfig) -> None:
    with pytest.raises(ServiceClosedError):
        MinioService(minio_config).client  # noqa: B018 -- the property raises


async def test_stat_object_has_the_sdk_objects_attributes(
    face: Face, minio_config: MinioConfig
) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        await s3.upload_data(
            "m.txt", b"hello", content_type="text/plain", metadata={"Owner": "me", "n": "2"}
        )
        stat = await s3.stat_object("m.txt")
        sdk = await anyio.to_thread.run_sync(s3.client.stat_object, stat.bucket_name, "m.txt")
        for field in dataclasses.fields(Object):
            if field.name != "metadata":
                assert getattr(stat, field.name) == getattr(sdk, field.name), field.name
        assert sdk.metadata is not None
        per_request = {"x-amz-request-id", "x-amzn-requestid", "date"}  # the latter: moto's
        assert {k: v for k, v in stat.metadata.items() if k.lower() not in per_request} == {
            k: v for k, v in sdk.metadata.items() if k.lower() not in per_request
        }
        assert stat.metadata["x-amz-meta-owner"] == "me"
        assert stat.metadata["X-Amz-Meta-Owner"] == "me"  # case-insensitive, as the SDK's
        assert stat.metadata.get("Content-Type") == "text/plain"
        assert stat.user_metadata == {"owner": "me", "n": "2"}
        assert stat.size == 5
        assert stat.is_dir is False


async def test_errors_are_the_sdks_too(face: Face, minio_config: MinioConfig) -> None:
    """Code written against the SDK (except S3Error, except ValueError) keeps working."""
    async with open_face(face, MinioService(minio_config)) as s3:
        bucket = minio_config.default_bucket
        with pytest.raises(S3Error) as info:
            await s3.stat_object("nope.bin")
        assert isinstance(info.value, MinioNotFoundError)
        assert info.value.code == "NoSuchKey"
        assert info.value.response.status == 404
        assert info.value.bucket_name == bucket
        assert info.value.object_name == "nope.bin"
        with pytest.raises(S3Error) as info:
            await s3.download_data("nope.bin")
        assert info.value.code == "NoSuchKey"
        with pytest.raises(MinioException):
            await s3.remove_bucket("no-such-bucket-here")
        with pytest.raises(ValueError, match="bucket_name"):
            await s3.bucket_exists("Bad_Bucket")
        with pytest.raises(ValueError, match="object_name"):
            await s3.stat_object("")


async def test_data_round_trip_stat_list_remove(face: Face, minio_config: MinioConfig) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        name = await s3.upload_data(
            "dir/a.txt", b"hello", content_type="text/plain", metadata={"owner": "me"}
        )
        assert name == "dir/a.txt"
        await s3.upload_data("dir/sub/b.bin", b"\x00\x01")
        await s3.upload_data("top.bin", b"x")
        assert await s3.download_data("dir/a.txt") == b"hello"
        stat = await s3.stat_object("dir/a.txt")
        assert isinstance(stat, ObjectStat)
        assert stat.size == 5
        assert stat.content_type == "text/plain"
        assert stat.user_metadata.get("owner") == "me"
        assert stat.metadata.get("x-amz-meta-owner") == "me"
        assert stat.last_modified is not None
        assert sorted(await s3.list_objects()) == ["dir/a.txt", "dir/sub/b.bin", "top.bin"]
        assert sorted(await s3.list_objects(prefix="dir/")) == ["dir/a.txt", "dir/sub/b.bin"]
        assert sorted(await s3.list_objects(prefix="dir/", recursive=False)) == [
            "dir/a.txt",
            "dir/sub/",
        ]
        assert sorted([n async for n in s3.iter_objects(prefix="top")]) == ["top.bin"]
        await s3.remove_object("top.bin")
        assert "top.bin" not in await s3.list_objects()


async def test_missing_objects_and_buckets(face: Face, minio_config: MinioConfig) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        bucket = minio_config.default_bucket
        with pytest.raises(MinioNotFoundError, match=r"nope\.bin") as info:
            await s3.download_data("nope.bin")
        assert info.value.code == "NoSuchKey"
        assert bucket is not None
        assert bucket in str(info.value)
        with pytest.raises(MinioNotFoundError, match=r"NoSuchKey|no such"):
            await s3.stat_object("nope.bin")
        with pytest.raises(MinioNotFoundError, match="no-such-bucket-here"):
            await s3.download_data("a", bucket_name="no-such-bucket-here")
        with pytest.raises(MinioConfigurationError, match="bucket_name"):
            await s3.download_data("a", bucket_name="Bad_Bucket")
        with pytest.raises(MinioConfigurationError, match="object_name"):
            await s3.upload_data("", b"x")


async def test_no_default_bucket_is_a_clear_error(face: Face, minio_config: MinioConfig) -> None:
    config = minio_config.model_copy(update={"default_bucket": None, "auto_create_bucket": False})
    async with open_face(face, MinioService(config)) as s3:
        with pytest.raises(MinioConfigurationError, match="default_bucket"):
            await s3.remove_bucket()


async def test_file_round_trip_with_progress(
    face: Face, minio_config: MinioConfig, tmp_path: Path
) -> None:
    source = tmp_path / "in.bin"
    payload = bytes(range(256)) * 4096 * 7  # 7 MiB: two parts
    source.write_bytes(payload)
    seen: list[tuple[int, int | None]] = []
    threads: set[int] = set()

    def on_progress(done: int, total: int | None) -> None:
        threads.add(threading.get_ident())
        seen.append((done, total))

    async with open_face(face, MinioService(minio_config)) as s3:
        name = await s3.upload_file("f.bin", source, progress=on_progress)
        assert name == "f.bin"
        assert seen[0] == (0, len(payload))
        assert seen[-1] == (len(payload), len(payload))
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)
        if face != "sync":  # on the event loop's thread, never in a worker
            assert threads == {threading.get_ident()}
        else:  # the portal's thread, or the caller's (the runner runs calls there)
            assert 1 <= len(threads) <= 2
        assert (await s3.stat_object("f.bin")).size == len(payload)
        target = tmp_path / "out" / "got.bin"
        target.parent.mkdir()
        down: list[tuple[int, int | None]] = []
        await s3.download_file(
            "f.bin", target, progress=lambda done, total: down.append((done, total))
        )
        assert target.read_bytes() == payload
        assert down[-1] == (len(payload), len(payload))
        assert [p.name for p in target.parent.iterdir()] == ["got.bin"]
        with pytest.raises(MinioNotFoundError):
            await s3.download_file("missing.bin", tmp_path / "out" / "missing.bin")
        assert [p.name for p in target.parent.iterdir()] == ["got.bin"]


async def test_streaming_64_mib_round_trip_with_checksum(
    face: Face, minio_config: MinioConfig
) -> None:
    total = 64 * MiB
    expected = hashlib.sha256()
    async for chunk in chunks(total):
        expected.update(chunk)
    async with open_face(face, MinioService(minio_config)) as s3:
        if face == "sync":
            # The sync face takes plain iterables; the AsyncView passes it through.
            source: object = _sync_chunks(total)
        else:
            source = chunks(total)
        await s3.upload_data("big.bin", source)  # type: ignore[arg-type]
        assert (await s3.stat_object("big.bin")).size == total
        got = hashlib.sha256()
        size = 0
        async for chunk in s3.download_stream("big.bin", chunk_size=MiB):
            got.update(chunk)
            size += len(chunk)
        assert size == total
        assert got.hexdigest() == expected.hexdigest()


def _sync_chunks(total: int, size: int = MiB) -> object:
    block = bytes((7 * 31 + i) % 251 for i in range(size))
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield block[:n]
        sent += n


async def test_download_stream_early_exit_releases(face: Face, minio_config: MinioConfig) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        await s3.upload_data("s.bin", b"a" * (3 * 1024 * 1024))
        for _ in range(3):
            stream = s3.download_stream("s.bin", chunk_size=1024)
            async for chunk in stream:
                assert chunk == b"a" * 1024
                break
            await stream.aclose()  # type: ignore[attr-defined]
        assert await s3.download_data("s.bin") == b"a" * (3 * 1024 * 1024)


async def test_source_error_and_cancel_leave_no_object(
    face: Face, minio_config: MinioConfig, open_uploads: Callable[[], list[str]]
) -> None:
    async def failing() -> AsyncGenerator[bytes, None]:
        async with aclosing(chunks(12 * MiB)) as source:
            async for chunk in source:
                yield chunk
        raise RuntimeError("source broke")

    async def slow() -> AsyncGenerator[bytes, None]:
        async with aclosing(chunks(12 * MiB)) as source:
            async for chunk in source:
                yield chunk
        await anyio.sleep_forever()
        yield b""

    async with open_face(face, MinioService(minio_config)) as s3:
        if face != "sync":
            with pytest.raises(RuntimeError, match="source broke"):
                await s3.upload_data("broken.bin", failing())
            # The upload stops reading the source when cancelled; closing a generator
            # that was left suspended is its owner's part (else GC warns, under trio).
            async with aclosing(slow()) as source:
                with anyio.move_on_after(1.5) as scope:
                    await s3.upload_data("cancelled.bin", source)
            assert scope.cancelled_caught
        else:

            def failing_sync() -> object:
                yield b"x" * (6 * MiB)
                yield b"y" * (6 * MiB)
                raise RuntimeError("source broke")

            with pytest.raises(RuntimeError, match="source broke"):
                await s3.upload_data("broken.bin", failing_sync())  # type: ignore[arg-type]
        names = await s3.list_objects()
        assert open_uploads() == []
        assert "broken.bin" not in names
        assert "cancelled.bin" not in names
        with pytest.raises(MinioNotFoundError):
            await s3.stat_object("broken.bin")


async def test_100_concurrent_uploads(face: Face, minio_config: MinioConfig) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:

        async def put(i: int) -> None:
            await s3.upload_data(f"c/{i:03d}", f"value {i}".encode())

        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(put, i)
        names = await s3.list_objects(prefix="c/")
        assert len(names) == 100
        assert await s3.download_data("c/042") == b"value 42"


async def test_presigned_get_and_put(face: Face, minio_config: MinioConfig) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        await s3.upload_data("p.txt", b"presigned")
        url = await s3.generate_presigned_url("p.txt")
        put_url = await s3.generate_presigned_url(
            "q.txt", method="PUT", expires=timedelta(minutes=5)
        )
        async with httpx.AsyncClient() as http:
            got = await http.get(url)
            assert got.status_code == 200
            assert got.content == b"presigned"
            put = await http.put(put_url, content=b"uploaded")
            assert put.status_code == 200
        assert await s3.download_data("q.txt") == b"uploaded"
        with pytest.raises(MinioConfigurationError, match="expires"):
            await s3.generate_presigned_url("p.txt", expires=timedelta(days=8))


async def test_expired_and_tampered_urls_refused(
    face: Face, minio_config: MinioConfig, needs_signatures: None
) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        await s3.upload_data("p.txt", b"presigned")
        url = await s3.generate_presigned_url("p.txt", expires=timedelta(seconds=1))
        good = await s3.generate_presigned_url("p.txt")
        signature_at = good.index("X-Amz-Signature=") + len("X-Amz-Signature=")
        flipped = "0" if good[signature_at] != "0" else "1"
        tampered = good[:signature_at] + flipped + good[signature_at + 1 :]
        await anyio.sleep(2.5)
        async with httpx.AsyncClient() as http:
            assert (await http.get(good)).status_code == 200
            assert (await http.get(url)).status_code == 403
            assert (await http.get(tampered)).status_code == 403


async def test_wrong_secret_refused_without_leaking(
    face: Face,
    minio_config: MinioConfig,
    needs_signatures: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "definitely-wrong-secret-1234"
    config = minio_config.model_copy(
        update={"secret_key": SecretStr(secret), "auto_create_bucket": False}
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MinioAuthenticationError, match=r"secret key is wrong|access key") as info:
        async with open_face(face, MinioService(config)):
            pytest.fail("must not open")
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert secret not in caplog.text


def test_repr_hides_secret(minio_config: MinioConfig) -> None:
    secret = minio_config.secret_key.get_secret_value()
    assert secret not in repr(minio_config)
    assert secret not in repr(MinioService(minio_config))


async def test_unreachable_server_fails_fast(face: Face) -> None:
    config = MinioConfig(endpoint="127.0.0.1:1", retries=0, connect_timeout=1)
    with pytest.raises(MinioError, match="cannot reach"):
        async with open_face(face, MinioService(config)):
            pytest.fail("must not open")


async def test_statistics_count_threads_and_bytes(face: Face, minio_config: MinioConfig) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        before = s3.statistics()
        assert isinstance(before, MinioStatistics)
        assert before.threads.max_threads == minio_config.max_concurrency
        await s3.upload_data("s.bin", b"12345")
        source: object = _sync_chunks(3 * MiB) if face == "sync" else chunks(3 * MiB)
        await s3.upload_data("t.bin", source, length=3 * MiB)  # type: ignore[arg-type]
        assert await s3.download_data("s.bin") == b"12345"
        got = b"".join([chunk async for chunk in s3.download_stream("t.bin", chunk_size=MiB)])
        assert len(got) == 3 * MiB
        with pytest.raises(MinioNotFoundError):
            await s3.stat_object("missing.bin")
        after = s3.statistics()
        assert after.bytes_uploaded - before.bytes_uploaded == 5 + 3 * MiB
        assert after.bytes_downloaded - before.bytes_downloaded == 5 + 3 * MiB
        assert after.threads.calls > before.threads.calls
        assert after.threads.errors == before.threads.errors + 1
        assert after.threads.threads_in_use == 0
        assert after.threads.peak_threads_in_use >= 1
