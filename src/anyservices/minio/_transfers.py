"""Uploads and downloads: whole bytes in one SDK call, streams without holding them whole.

Streamed upload: a pump task on the event loop reads the source (async iterables
directly; files and plain iterables in worker threads) into a bounded memory stream; the
SDK's ``put_object(length=-1)`` (multipart in ``part_size`` parts, one at a time) runs
in a worker thread of the runner and pulls from that stream through ``_StreamReader``,
which hops to the loop with ``anyio.from_thread.run``. Every way an upload can fail
makes the reader's ``read`` raise inside the SDK, which then aborts its multipart upload,
so no object and no open upload remain:

- the source raises (its own exception reaches the caller);
- the caller is cancelled (the pump is cancelled and stops feeding);
- the source gives more or fewer bytes than ``length`` (``MinioDataError``).

The length is checked here, not by the SDK (which stops reading after ``length`` bytes
and stores a truncated object). The memory stream is only touched on the loop's thread.
"""

from __future__ import annotations

import functools
import io
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Iterator
from contextlib import aclosing
from os import PathLike
from typing import IO, BinaryIO, cast

import anyio
import anyio.from_thread
import anyio.to_thread
import urllib3
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from minio.helpers import DictType

from ._calls import SdkCalls
from ._errors import MinioDataError, MinioError
from ._types import ProgressCallback, UploadSource

__all__ = ("download_bytes", "download_chunks", "download_to_file", "upload")

#: Chunks the pump may read ahead of the SDK.
_QUEUE_CHUNKS = 4


class _SourceFailed(Exception):  # noqa: N818 -- internal signal to abort, never escapes
    """Raised in the worker when the source failed or the caller was cancelled."""


class _Where:
    """The operation, bucket and object of one upload, for its errors."""

    def __init__(self, op: str, bucket: str, obj: str) -> None:
        self.op, self.bucket, self.obj = op, bucket, obj

    def length_error(self, length: int, received: int) -> MinioDataError:
        if received > length:
            text = f"the source holds more than length={length} bytes"
        else:
            text = f"the source ended after {received} bytes, short of length={length}"
        msg = f"{self.op}: {text}; nothing was stored bucket={self.bucket!r} object={self.obj!r}"
        return MinioDataError(msg, operation=self.op, resource=f"{self.bucket}/{self.obj}")


class _Pump:
    """The task on the loop that reads the source into the memory stream.

    ``finished`` only when it read the whole source; ``error`` is what the source (or
    the progress callback) raised.
    """

    def __init__(
        self,
        source: UploadSource,
        chunk_size: int,
        length: int | None,
        progress: ProgressCallback | None,
    ) -> None:
        self._source = source
        self._chunk_size = chunk_size
        self._length = length
        self._progress = progress
        self.finished = False
        self.error: Exception | None = None
        self.sent = 0

    async def run(self, send: MemoryObjectSendStream[bytes]) -> None:
        progress, length = self._progress, self._length
        chunks = _chunks_of(self._source, self._chunk_size)
        async with send, aclosing(chunks):
            try:
                if progress is not None:
                    progress(0, length)
                async for chunk in chunks:
                    if chunk:
                        await send.send(bytes(chunk))
                        self.sent += len(chunk)
                        if progress is not None:
                            progress(self.sent, length)
                self.finished = True
            except Exception as exc:  # noqa: BLE001 -- the source's (or progress's) own error,
                self.error = exc  # raised to the caller once the SDK has aborted


class _StreamReader:
    """A file-like ``read(n)`` for the SDK (in a worker thread), pulling chunks from the loop.

    Chunks are handed over in batches (whatever the memory stream holds) to keep thread
    hops few; each ``read`` copies the bytes it returns once (a join). The source's
    length is checked against ``length`` as the bytes arrive.
    """

    def __init__(
        self,
        receive: MemoryObjectReceiveStream[bytes],
        pump: _Pump,
        length: int | None,
        where: _Where,
    ) -> None:
        self._receive = receive
        self._pump = pump
        self._length = length
        self._where = where
        self._received = 0
        self._pending = b""
        self._eof = False

    async def _take(self) -> list[bytes]:
        chunks = [await self._receive.receive()]
        while True:
            try:
                chunks.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                return chunks

    def _batch(self) -> list[bytes] | None:
        """The next chunks, or None at the end of a source that gave exactly ``length``."""
        length = self._length
        try:
            batch = anyio.from_thread.run(self._take)
        except anyio.EndOfStream:
            if not self._pump.finished:  # the source raised, or the caller was cancelled
                raise _SourceFailed from None
            if length is not None and self._received < length:
                raise self._where.length_error(length, self._received) from None
            return None
        except BaseException as exc:
            # The caller's cancellation, delivered in this thread (``_take`` runs in the
            # caller's cancel scope). The SDK aborts only on an Exception: hand it one; the
            # runner raises the cancellation to the caller once this thread is done.
            raise _SourceFailed from exc
        self._received += sum(map(len, batch))
        if length is not None and self._received > length:
            raise self._where.length_error(length, self._received)
        return batch

    def read(self, size: int = -1) -> bytes:
        want = size if size >= 0 else 1 << 62
        parts: list[bytes] = []
        have = 0
        if self._pending:
            parts.append(self._pending)
            have = len(self._pending)
            self._pending = b""
        while have < want and not self._eof:
            batch = self._batch()
            if batch is None:
                self._eof = True
                break
            parts.extend(batch)
            have += sum(map(len, batch))
        if have > want:  # keep the excess for the next read, copying as little as possible
            extra = have - want
            last = parts[-1]
            if len(last) < extra:
                data = b"".join(parts)
                self._pending = data[want:]
                return data[:want]
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
        raise _Where(op, bucket, obj).length_error(length, total)
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
    send, receive = anyio.create_memory_object_stream[bytes](_QUEUE_CHUNKS)
    pump = _Pump(source, calls.config.chunk_size, length, progress)
    reader = _StreamReader(receive, pump, length, _Where(op, bucket, obj))
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
    failed: MinioError | _SourceFailed | None = None
    with receive:  # closed here, on the loop's thread (trio refuses it from a worker)
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run, send)
            try:
                await calls.run(put, op, bucket, obj)
            except (MinioError, _SourceFailed) as exc:  # carried out of the task group
                failed = exc
            finally:  # the pump may still wait on the source or on a full stream
                tg.cancel_scope.cancel()
    if isinstance(failed, _SourceFailed):
        assert pump.error is not None  # noqa: S101 -- a cancelled caller never gets here
        raise pump.error
    if failed is not None:
        raise failed
    calls.counts.uploaded(pump.sent)


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
