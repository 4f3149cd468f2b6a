"""Uploads and downloads: whole bytes in one SDK call, streams without holding them whole.

Streamed upload: the SDK's ``put_object(length=-1)`` (multipart in ``part_size`` parts, one
at a time) runs in a worker thread of the runner and reads ``_StreamReader``, whose
``read(n)`` hops to the event loop (``anyio.from_thread.run``) to pull up to ``n`` bytes
from the source: async iterables directly, files and plain iterables in worker threads.
That hop runs in the caller's cancel scope. Every way an upload can fail makes ``read``
raise inside the SDK, which then aborts its multipart upload, so no object and no open
upload remain:

- the source raises (its own exception reaches the caller);
- the caller is cancelled (the cancellation reaches the caller once the SDK aborted);
- the source gives more or fewer bytes than ``length`` (``MinioDataError``).

The length is checked here, not by the SDK (which stops reading after ``length`` bytes
and stores a truncated object).
"""

from __future__ import annotations

import functools
import io
import math
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import aclosing
from os import PathLike
from typing import IO, BinaryIO, cast

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import urllib3
from minio.helpers import DictType

from ._calls import SdkCalls
from ._errors import MinioDataError
from ._types import ProgressCallback, UploadSource

__all__ = ("download_bytes", "download_chunks", "download_to_file", "upload")


class _SourceFailed(Exception):  # noqa: N818 -- internal signal to abort, never escapes
    """Raised in the worker when the source raised or the caller was cancelled."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


def _length_error(where: tuple[str, str, str], length: int, received: int) -> MinioDataError:
    op, bucket, obj = where
    if received > length:
        text = f"the source holds more than length={length} bytes"
    else:
        text = f"the source ended after {received} bytes, short of length={length}"
    msg = f"{op}: {text}; nothing was stored bucket={bucket!r} object={obj!r}"
    return MinioDataError(msg, operation=op, resource=f"{bucket}/{obj}")


class _CallerCancelled(Exception):  # noqa: N818 -- internal signal to abort, never escapes
    """The caller's scope was cancelled before this pull could be told."""


async def _stop_if_cancelled() -> None:
    """Raise if the caller's cancel scope was cancelled, however the pull joined it.

    A pull runs for the worker thread in the caller's scope. anyio on asyncio delivers a
    cancellation to the tasks in a scope when it is cancelled; a pull that joins the scope
    later is never told, and ``checkpoint_if_cancelled`` would then wait for a delivery
    that never comes. The scope itself says it was cancelled (the deadline is -inf):
    look there, level-triggered like trio (which raises at the checkpoint).
    """
    if anyio.current_effective_deadline() == -math.inf:
        await anyio.lowlevel.checkpoint()
        raise _CallerCancelled
    await anyio.lowlevel.checkpoint_if_cancelled()


class _StreamReader:
    """A file-like ``read(n)`` for the SDK (in a worker thread), pulling from the source.

    One hop to the loop per ``read``: the SDK asks for a whole part (``part_size + 1``).
    The bytes are counted against ``length`` as they arrive, and ``progress`` is told.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        length: int | None,
        progress: ProgressCallback | None,
        where: tuple[str, str, str],
    ) -> None:
        self._chunks = chunks
        self._length = length
        self._progress = progress
        self._where = where
        self.received = 0
        self._pending = b""
        self._eof = False

    async def _pull(self, want: int) -> list[bytes]:
        """Chunks of at least ``want`` bytes in all, fewer only at the end of the source."""
        parts: list[bytes] = []
        got = 0
        length = self._length
        while got < want:
            # Looked at before every chunk, so a source that never waits is stopped too.
            await _stop_if_cancelled()
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self._eof = True
                if length is not None and self.received < length:
                    raise _length_error(self._where, length, self.received) from None
                break
            except Exception as exc:  # the source's own error: wrapped, so map_errors keeps off it
                raise _SourceFailed(exc) from exc
            if not chunk:
                continue
            parts.append(bytes(chunk))
            got += len(chunk)
            self.received += len(chunk)
            if length is not None and self.received > length:
                raise _length_error(self._where, length, self.received)
            if self._progress is not None:
                self._progress(self.received, length)
        return parts

    def read(self, size: int = -1) -> bytes:
        want = size if size >= 0 else 1 << 62
        parts: list[bytes] = [self._pending] if self._pending else []
        have = len(self._pending)
        self._pending = b""
        if have < want and not self._eof:
            try:
                batch = anyio.from_thread.run(self._pull, want - have)
            except (MinioDataError, _SourceFailed):
                raise
            except BaseException as exc:
                # The caller's cancellation, delivered in this thread. The SDK aborts only
                # on an Exception: hand it one; the runner raises the cancellation to the
                # caller once this thread is done.
                raise _SourceFailed(exc) from exc
            parts.extend(batch)
            have += sum(map(len, batch))
        if have > want:  # keep the excess for the next read, copying as little as possible
            # The excess lies in the last part: _pull stops at the chunk that reached
            # ``want``, and a pending rest alone is cut at ``want`` the same way.
            extra = have - want
            last = parts[-1]
            parts[-1] = last[: len(last) - extra]
            self._pending = last[len(last) - extra :]
        return parts[0] if len(parts) == 1 else b"".join(parts)


async def _chunks_of(source: UploadSource, chunk_size: int) -> AsyncGenerator[bytes]:
    """Chunks of ``source``; blocking reads and iterations happen in worker threads.

    Those threads are anyio's default ones, not the runner's: the runner's are busy
    with the SDK, and an upload holds one while its source is read.
    """
    if isinstance(source, anyio.AsyncFile):
        while chunk := await source.read(chunk_size):
            yield chunk
    elif isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
    elif hasattr(source, "read"):
        read = functools.partial(cast("IO[bytes]", source).read, chunk_size)
        while chunk := await anyio.to_thread.run_sync(read):
            yield chunk
    else:
        iterator: Iterator[bytes] = iter(cast("Iterable[bytes]", source))
        while (chunk_or_none := await anyio.to_thread.run_sync(next, iterator, None)) is not None:
            yield chunk_or_none


async def upload(
    calls: SdkCalls,
    op: str,
    bucket: str,
    obj: str,
    data: UploadSource,
    *,
    length: int | None,
    content_type: str,
    metadata: dict[str, str] | None,
    progress: ProgressCallback | None,
) -> None:
    """Store ``data`` (bytes in one call, anything else streamed) as the object."""
    headers: DictType | None = None if metadata is None else dict(metadata)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        await _upload_stream(calls, op, bucket, obj, data, length, content_type, headers, progress)
        return
    payload = bytes(data)
    total = len(payload)
    if length is not None and length != total:
        raise _length_error((op, bucket, obj), length, total)
    if progress is not None:
        progress(0, total)
    put = functools.partial(
        calls.client.put_object,
        bucket,
        obj,
        io.BytesIO(payload),
        total,
        content_type=content_type,
        metadata=headers,
        part_size=calls.config.part_size,
    )
    await calls.run(put, op, bucket, obj)
    calls.counts.uploaded(total)
    if progress is not None:
        progress(total, total)


async def _upload_stream(
    calls: SdkCalls,
    op: str,
    bucket: str,
    obj: str,
    source: UploadSource,
    length: int | None,
    content_type: str,
    headers: DictType | None,
    progress: ProgressCallback | None,
) -> None:
    if progress is not None:
        progress(0, length)
    chunks = _chunks_of(source, calls.config.chunk_size)
    reader = _StreamReader(chunks, length, progress, (op, bucket, obj))
    put = functools.partial(
        calls.client.put_object,
        bucket,
        obj,
        cast("BinaryIO", reader),
        -1,  # the reader enforces `length`: the SDK would store a truncated object
        content_type=content_type,
        metadata=headers,
        part_size=calls.config.part_size,
        num_parallel_uploads=1,  # parallel parts queue without bound
    )
    try:
        await calls.run(put, op, bucket, obj)
    except _SourceFailed as exc:  # the source raised: its own exception, unmapped
        raise exc.error from None
    finally:
        with anyio.CancelScope(shield=True):
            await chunks.aclose()
    calls.counts.uploaded(reader.received)


def _read_all(calls: SdkCalls, bucket: str, obj: str) -> bytes:
    response = calls.client.get_object(bucket, obj)
    try:
        return response.read()
    finally:
        _release(response)


async def download_bytes(calls: SdkCalls, op: str, bucket: str, obj: str) -> bytes:
    """The whole object, read in one worker-thread call."""
    data = await calls.run(functools.partial(_read_all, calls, bucket, obj), op, bucket, obj)
    calls.counts.downloaded(len(data))
    return data


async def download_chunks(
    calls: SdkCalls,
    op: str,
    bucket: str,
    obj: str,
    chunk_size: int,
    progress: ProgressCallback | None,
) -> AsyncGenerator[bytes]:
    """The object as chunks, one worker-thread call per chunk; the connection is released
    however the iteration ends."""
    response = await calls.run(
        functools.partial(calls.client.get_object, bucket, obj), op, bucket, obj
    )
    try:
        total_text = response.headers.get("Content-Length")
        total = int(total_text) if total_text is not None else None
        done = 0
        if progress is not None:
            progress(0, total)
        read = functools.partial(response.read, chunk_size)
        while chunk := await calls.run(read, op, bucket, obj):
            done += len(chunk)
            calls.counts.downloaded(len(chunk))
            if progress is not None:
                progress(done, total)
            yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            await calls.run(functools.partial(_release, response), op, bucket, obj)


async def download_to_file(
    calls: SdkCalls,
    op: str,
    bucket: str,
    obj: str,
    file_path: str | PathLike[str],
    progress: ProgressCallback | None,
) -> None:
    """Stream into a temporary file beside ``file_path``; rename it over only on success."""
    target = anyio.Path(file_path)
    part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        async with await anyio.open_file(part, "wb") as afile:
            chunks = download_chunks(calls, op, bucket, obj, calls.config.chunk_size, progress)
            async with aclosing(chunks):
                async for chunk in chunks:
                    await afile.write(chunk)
        await part.rename(target)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await part.unlink(missing_ok=True)
        raise


def _release(response: urllib3.BaseHTTPResponse) -> None:
    response.close()
    response.release_conn()
