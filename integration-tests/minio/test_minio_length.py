"""A source longer or shorter than ``length`` is an error and stores nothing (issue 10 #8).

Before: ``upload_stream(..., length=2 MiB)`` of a 20 MiB source raised a bare
``anyio.BrokenResourceError`` (an ExceptionGroup on trio) and left a 2 MiB object; a 4 MiB
source was stored truncated without a word. Every face, every kind of source.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextlib import aclosing, contextmanager
from pathlib import Path
from typing import Literal

import pytest

from anyservices.minio import MinioConfig, MinioDataError, MinioNotFoundError, MinioService
from anyservices.testing import Face, open_face

MiB = 1024 * 1024
Kind = Literal["bytes", "sync_iterable", "file"]

#: (length given, bytes the source holds): the issue's two cases, then a source that
#: outgrows ``length`` after parts were uploaded (5 MiB parts), one that ends after a
#: part, and a small short one.
MISMATCHES = [
    (2 * MiB, 20 * MiB),
    (2 * MiB, 4 * MiB),
    (12 * MiB, 20 * MiB),
    (12 * MiB, 7 * MiB),
    (4 * MiB, 1 * MiB),
]


def _block(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def _sync_chunks(total: int) -> Iterator[bytes]:
    block = _block(MiB)
    for start in range(0, total, MiB):
        yield block[: min(MiB, total - start)]


async def _async_chunks(total: int) -> AsyncGenerator[bytes]:
    for chunk in _sync_chunks(total):
        yield chunk


@contextmanager
def _source(kind: Kind, total: int, tmp_path: Path) -> Generator[object]:
    if kind == "bytes":
        yield _block(MiB) * (total // MiB)
    elif kind == "sync_iterable":
        yield _sync_chunks(total)
    else:
        path = tmp_path / "source.bin"
        path.write_bytes(_block(MiB) * (total // MiB))
        with path.open("rb") as file:
            yield file


async def _assert_nothing_stored(
    s3: MinioService, name: str, open_uploads: Callable[[], list[str]]
) -> None:
    with pytest.raises(MinioNotFoundError):
        await s3.stat_object(name)
    assert name not in await s3.list_objects()
    assert open_uploads() == []


@pytest.mark.parametrize("kind", ["bytes", "sync_iterable", "file"])
async def test_mismatched_length_raises_and_stores_nothing(
    face: Face,
    minio_config: MinioConfig,
    open_uploads: Callable[[], list[str]],
    tmp_path: Path,
    kind: Kind,
) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        for length, total in MISMATCHES:
            name = f"{kind}-{length}-{total}.bin"
            with (
                _source(kind, total, tmp_path) as source,
                pytest.raises(MinioDataError, match=f"length={length}") as info,
            ):
                await s3.upload_stream(name, source, length=length)  # type: ignore[arg-type]
            assert ("more than" if total > length else "short of") in str(info.value)
            assert name in str(info.value)
            await _assert_nothing_stored(s3, name, open_uploads)
        # The right length is stored whole, and the service keeps working.
        with _source(kind, 7 * MiB, tmp_path) as source:
            await s3.upload_stream("exact.bin", source, length=7 * MiB)  # type: ignore[arg-type]
        assert (await s3.stat_object("exact.bin")).size == 7 * MiB


@pytest.mark.faces("asyncio", "trio")
async def test_mismatched_length_of_an_async_iterable(
    face: Face, minio_config: MinioConfig, open_uploads: Callable[[], list[str]]
) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:
        for length, total in MISMATCHES:
            name = f"async-{length}-{total}.bin"
            # The service does not close a source it stops reading: the owner does.
            async with aclosing(_async_chunks(total)) as source:
                with pytest.raises(MinioDataError, match=f"length={length}"):
                    await s3.upload_stream(name, source, length=length)
            await _assert_nothing_stored(s3, name, open_uploads)
        await s3.upload_data("exact.bin", _async_chunks(3 * MiB), length=3 * MiB)
        assert await s3.download_data("exact.bin") == _block(MiB) * 3
