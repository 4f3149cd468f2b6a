"""MinioService: the minio SDK (synchronous) driven from worker threads.

Every SDK call runs through ``_call`` (``anyio.to_thread.run_sync`` under one
``CapacityLimiter`` of ``max_concurrency`` threads; the SDK's urllib3 pool has as many
connections), and every SDK exception becomes ours in ``_errors.map_error``.

Streamed uploads: a pump task on the event loop reads the source and feeds a bounded
memory stream; the SDK's ``put_object(length=-1)`` runs in a worker and pulls parts from
it through ``anyio.from_thread.run``. If the caller is cancelled or the source fails, the
worker's ``read`` raises, so the SDK aborts the multipart upload: no partial object.
"""

from __future__ import annotations

import io
import mimetypes
import threading
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
)
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import urllib3
from anyio.streams.memory import MemoryObjectReceiveStream

from minio import Minio

from .._core._service import Service
from ._config import MinioConfig, check_bucket_name, check_object_name
from ._errors import (
    MinioConfigurationError,
    MinioError,
    MinioPermissionDeniedError,
    map_errors,
)
from ._types import MinioStatistics, ObjectStat, ProgressCallback, UploadSource

if TYPE_CHECKING:
    import logging
    from os import PathLike

    from .._core._portal import Portal
    from ._sync import SyncMinioService

__all__ = ("MinioService",)

T = TypeVar("T")
_QUEUE_CHUNKS = 4
_LIST_BATCH = 1000


class _SourceFailed(Exception):  # noqa: N818 -- internal signal, never escapes
    """Raised in the worker so that the SDK aborts the upload."""


@dataclass
class _PumpState:
    error: BaseException | None = None


class _StreamReader:
    """A file-like ``read(n)`` for the SDK, pulling chunks from the event loop.

    Each ``read`` copies the bytes it returns once (a join); chunks are handed over in
    batches (whatever the memory stream holds) to keep thread hops few.
    """

    def __init__(self, receive: MemoryObjectReceiveStream[bytes], state: _PumpState) -> None:
        self._receive = receive
        self._state = state
        self._pending = b""
        self._eof = False

    async def _take(self) -> list[bytes]:
        chunks = [await self._receive.receive()]
        while True:
            try:
                chunks.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                return chunks

    def read(self, size: int = -1) -> bytes:
        want = size if size >= 0 else 1 << 62
        parts: list[bytes] = []
        have = 0
        if self._pending:
            parts.append(self._pending)
            have = len(self._pending)
            self._pending = b""
        while have < want and not self._eof:
            try:
                batch = anyio.from_thread.run(self._take)
            except anyio.EndOfStream:
                if self._state.error is not None:
                    raise _SourceFailed from None
                self._eof = True
                break
            except BaseException as exc:
                # The caller's cancellation, delivered here: the SDK aborts only on
                # Exception, so turn it into one (the caller re-raises the cancellation).
                raise _SourceFailed from exc
            parts.extend(batch)
            have += sum(map(len, batch))
        if have > want:
            extra = have - want
            last = parts[-1]
            if len(last) < extra:
                data = b"".join(parts)
                self._pending = data[want:]
                return data[:want]
            parts[-1] = last[: len(last) - extra]
            self._pending = last[len(last) - extra :]
        return parts[0] if len(parts) == 1 else b"".join(parts)


async def _chunks_of(source: UploadSource, chunk_size: int) -> AsyncIterator[bytes]:
    """Chunks of ``source``; blocking reads and iterations happen in worker threads."""
    if isinstance(source, anyio.AsyncFile):
        afile = source
        while chunk := await afile.read(chunk_size):
            yield chunk
    elif isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
    elif hasattr(source, "read"):
        fileobj = cast("io.BufferedIOBase", source)
        while chunk := await anyio.to_thread.run_sync(fileobj.read, chunk_size):
            yield chunk
    else:
        iterator: Iterator[bytes] = iter(cast("Iterable[bytes]", source))
        while (chunk_or_none := await anyio.to_thread.run_sync(next, iterator, None)) is not None:
            yield chunk_or_none


class MinioService(Service[MinioConfig]):
    """S3 object storage (MinIO, Ceph RGW, AWS) on asyncio, trio and the sync face.

    ``async with MinioService(MinioConfig(endpoint="127.0.0.1:9000", default_bucket="b")) as s3:``
    """

    service_name = "minio"

    def __init__(self, config: MinioConfig, *, logger: logging.Logger | None = None) -> None:
        super().__init__(config, logger=logger)
        self._limiter = anyio.CapacityLimiter(config.max_concurrency)
        self._client: Minio | None = None
        self._http: urllib3.PoolManager | None = None
        self._lock = threading.Lock()
        self._in_flight = 0
        self._peak = 0
        self._calls = 0
        self._errors = 0
        self._uploaded = 0
        self._downloaded = 0

    def _describe(self) -> str:
        scheme = "https" if self.config.secure else "http"
        return f"{scheme}://{self.config.endpoint} bucket={self.config.default_bucket}"

    async def _open(self, stack: AsyncExitStack) -> None:
        cfg = self.config
        http = urllib3.PoolManager(
            num_pools=4,
            maxsize=cfg.max_concurrency,
            block=False,
            timeout=urllib3.Timeout(connect=cfg.connect_timeout, read=cfg.read_timeout),
            retries=urllib3.Retry(
                total=cfg.retries,
                connect=cfg.retries,
                read=0,
                status=0,
                redirect=0,
                backoff_factor=0.1,
            ),
        )
        stack.callback(http.clear)
        self._http = http
        self._client = Minio(
            cfg.endpoint,
            access_key=cfg.access_key,
            secret_key=cfg.secret_key.get_secret_value(),
            session_token=None
            if cfg.session_token is None
            else cfg.session_token.get_secret_value(),
            secure=cfg.secure,
            region=cfg.region,
            http_client=http,
        )
        # Fail fast: one authenticated round trip. A GET (not a HEAD, whose 403 has no body)
        # so that a wrong secret says SignatureDoesNotMatch rather than AccessDenied.
        try:
            await self._call(self._sdk.list_buckets, op="connect")
        except MinioPermissionDeniedError:
            if cfg.default_bucket is None:  # credentials limited to a bucket: probe it below
                raise
        if cfg.default_bucket is not None and cfg.auto_create_bucket:
            await self._ensure(cfg.default_bucket)
        elif cfg.default_bucket is not None:
            bucket = cfg.default_bucket
            await self._call(self._sdk.bucket_exists, bucket, op="connect", bucket=bucket)

    def __blocking__(self, portal: Portal) -> SyncMinioService:
        from .._core._syncface import sync_face  # noqa: PLC0415 -- only blocking() needs it

        face: SyncMinioService = sync_face(portal, self)  # registered by ._sync
        return face

    # -- internals -------------------------------------------------------------------

    @property
    def _sdk(self) -> Minio:
        assert self._client is not None  # noqa: S101 -- set by _open
        return self._client

    def _count(self, delta: int, *, failed: bool = False) -> None:
        with self._lock:
            self._in_flight += delta
            self._peak = max(self._peak, self._in_flight)
            if delta < 0:
                self._calls += 1
                self._errors += failed

    def _run_counted(self, func: Callable[..., T], *args: Any) -> T:
        self._count(1)
        failed = True
        try:
            result = func(*args)
            failed = False
            return result
        finally:
            self._count(-1, failed=failed)

    async def _call(
        self,
        func: Callable[..., T],
        *args: Any,
        op: str,
        bucket: str | None = None,
        obj: str | None = None,
    ) -> T:
        """Run one SDK call in a worker thread; the only place SDK errors are mapped."""
        with map_errors(op, bucket, obj):
            return await anyio.to_thread.run_sync(
                self._run_counted, func, *args, limiter=self._limiter
            )

    def _bucket(self, bucket_name: str | None, op: str) -> str:
        self._check_open()
        name = bucket_name if bucket_name is not None else self.config.default_bucket
        if name is None:
            msg = f"{op}: bucket_name not given and MinioConfig.default_bucket is not set"
            raise MinioConfigurationError(msg, operation=op)
        try:
            return check_bucket_name(name)
        except ValueError as exc:
            msg = f"{op}: invalid bucket_name: {exc}"
            raise MinioConfigurationError(msg, operation=op, resource=name) from None

    def _target(self, object_name: str, bucket_name: str | None, op: str) -> tuple[str, str]:
        bucket = self._bucket(bucket_name, op)
        try:
            check_object_name(object_name)
        except ValueError as exc:
            msg = f"{op}: invalid object_name: {exc}"
            raise MinioConfigurationError(msg, operation=op, resource=bucket) from None
        return bucket, object_name

    async def _ensure(self, bucket: str) -> None:
        if await self._call(self._sdk.bucket_exists, bucket, op="ensure_bucket", bucket=bucket):
            return
        try:
            await self._call(self._sdk.make_bucket, bucket, op="ensure_bucket", bucket=bucket)
        except MinioError as exc:
            if exc.code != "BucketAlreadyOwnedByYou":  # created meanwhile by us: fine
                raise

    # -- plain methods ---------------------------------------------------------------

    def statistics(self) -> MinioStatistics:
        """Worker threads in use (and their peak), calls, errors and bytes moved."""
        with self._lock:
            return MinioStatistics(
                max_concurrency=self.config.max_concurrency,
                in_flight=self._in_flight,
                peak_in_flight=self._peak,
                calls=self._calls,
                errors=self._errors,
                bytes_uploaded=self._uploaded,
                bytes_downloaded=self._downloaded,
            )

    # -- buckets ---------------------------------------------------------------------

    @property
    def client(self) -> Minio:
        """The underlying ``minio.Minio`` client, for what this service does not wrap.

        Its methods block: on the async faces call them in a worker thread.
        """
        self._check_open()
        return self._sdk

    async def health_check(self) -> list[str]:
        """The names of the buckets the credentials can see (one authenticated round trip).

        Raises the reason when the server cannot answer (``MinioConnectError``, ...).
        """
        self._check_open()
        buckets = await self._call(self._sdk.list_buckets, op="health_check")
        return [b.name for b in buckets]

    async def bucket_exists(self, bucket_name: str) -> bool:
        """Whether the bucket exists."""
        bucket = self._bucket(bucket_name, "bucket_exists")
        return await self._call(self._sdk.bucket_exists, bucket, op="bucket_exists", bucket=bucket)

    async def ensure_bucket(self, bucket_name: str) -> None:
        """Create the bucket unless it exists."""
        await self._ensure(self._bucket(bucket_name, "ensure_bucket"))

    async def remove_bucket(self, bucket_name: str | None = None) -> None:
        """Remove an empty bucket."""
        bucket = self._bucket(bucket_name, "remove_bucket")
        await self._call(self._sdk.remove_bucket, bucket, op="remove_bucket", bucket=bucket)

    async def list_buckets(self) -> list[str]:
        """The names of the buckets the credentials can see."""
        self._check_open()
        buckets = await self._call(self._sdk.list_buckets, op="list_buckets")
        return [b.name for b in buckets]

    # -- uploads ---------------------------------------------------------------------

    async def upload_data(
        self,
        object_name: str,
        data: UploadSource,
        *,
        bucket_name: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        length: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Store ``data`` as the object; returns the object name.

        ``data`` is bytes, or a stream (async iterable of bytes, anyio file, iterable of
        bytes, binary file object) uploaded without holding it whole in memory (multipart
        in ``part_size`` parts). If the upload fails or is cancelled, no object appears.
        """
        bucket, obj = self._target(object_name, bucket_name, "upload_data")
        ctype = content_type or "application/octet-stream"
        if isinstance(data, (bytes, bytearray, memoryview)):
            payload = bytes(data)
            total = len(payload)
            if progress is not None:
                progress(0, total)
            await self._call(
                self._put_bytes,
                bucket,
                obj,
                payload,
                ctype,
                metadata,
                op="upload_data",
                bucket=bucket,
                obj=obj,
            )
            if progress is not None:
                progress(total, total)
            return obj
        return await self._put_stream(
            bucket, obj, data, length, ctype, metadata, progress, "upload_data"
        )

    async def upload_stream(
        self,
        object_name: str,
        source: UploadSource,
        *,
        bucket_name: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        length: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """``upload_data`` under the name that says it streams."""
        return await self.upload_data(
            object_name,
            source,
            bucket_name=bucket_name,
            content_type=content_type,
            metadata=metadata,
            length=length,
            progress=progress,
        )

    async def upload_file(
        self,
        object_name: str,
        file_path: str | PathLike[str],
        *,
        bucket_name: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Upload a local file (read with anyio's file API, streamed); returns the object name."""
        bucket, obj = self._target(object_name, bucket_name, "upload_file")
        path = anyio.Path(file_path)
        size = (await path.stat()).st_size
        ctype = content_type or mimetypes.guess_type(str(path))[0] or "application/octet-stream"
        async with await anyio.open_file(path, "rb") as afile:
            return await self._put_stream(
                bucket, obj, afile, size, ctype, metadata, progress, "upload_file"
            )

    def _put_bytes(
        self, bucket: str, obj: str, payload: bytes, ctype: str, metadata: dict[str, str] | None
    ) -> None:
        self._sdk.put_object(
            bucket,
            obj,
            io.BytesIO(payload),
            len(payload),
            content_type=ctype,
            metadata=cast("Any", metadata),
            part_size=self.config.part_size,
        )
        with self._lock:
            self._uploaded += len(payload)

    async def _put_stream(  # noqa: C901 -- one transfer, its pump and its worker
        self,
        bucket: str,
        obj: str,
        source: UploadSource,
        length: int | None,
        ctype: str,
        metadata: dict[str, str] | None,
        progress: ProgressCallback | None,
        op: str,
    ) -> str:
        send, receive = anyio.create_memory_object_stream[bytes](_QUEUE_CHUNKS)
        state = _PumpState()
        reader = _StreamReader(receive, state)
        sent = 0

        async def pump() -> None:
            nonlocal sent
            async with send:
                try:
                    if progress is not None:
                        progress(0, length)
                    async for chunk in _chunks_of(source, self.config.chunk_size):
                        if chunk:
                            await send.send(bytes(chunk))
                            sent += len(chunk)
                            if progress is not None:
                                progress(sent, length)
                except (
                    BaseException
                ) as exc:  # recorded for the worker (which aborts), then re-raised
                    state.error = exc
                    if isinstance(exc, Exception):
                        return
                    raise

        def work() -> None:
            with receive:
                self._sdk.put_object(
                    bucket,
                    obj,
                    cast("Any", reader),
                    -1 if length is None else length,
                    content_type=ctype,
                    metadata=cast("Any", metadata),
                    part_size=self.config.part_size,
                    num_parallel_uploads=1,
                )

        failure: MinioError | None = None
        interrupted = False
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            try:
                with map_errors(op, bucket, obj):
                    await anyio.to_thread.run_sync(self._run_counted, work, limiter=self._limiter)
            except _SourceFailed:
                interrupted = True
            except MinioError as exc:
                failure = exc
                tg.cancel_scope.cancel()
        if failure is not None:
            raise failure
        if state.error is not None:
            if isinstance(state.error, Exception):
                raise state.error
            await anyio.lowlevel.checkpoint()
            raise state.error
        if interrupted:
            await anyio.lowlevel.checkpoint()
            msg = f"{op}: upload interrupted bucket={bucket!r} object={obj!r}"
            raise MinioError(msg, operation=op, resource=f"{bucket}/{obj}")
        with self._lock:
            self._uploaded += sent
        return obj

    # -- downloads -------------------------------------------------------------------

    async def download_data(
        self,
        object_name: str,
        *,
        bucket_name: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> bytes:
        """The whole object's content."""
        bucket, obj = self._target(object_name, bucket_name, "download_data")
        if progress is None:
            return await self._call(
                self._get_bytes, bucket, obj, op="download_data", bucket=bucket, obj=obj
            )
        parts = [
            chunk
            async for chunk in self.download_stream(
                object_name, bucket_name=bucket, progress=progress
            )
        ]
        return b"".join(parts)

    def _get_bytes(self, bucket: str, obj: str) -> bytes:
        response = self._sdk.get_object(bucket, obj)
        try:
            data = response.read()
        finally:
            response.close()
            response.release_conn()
        with self._lock:
            self._downloaded += len(data)
        return data

    async def download_stream(
        self,
        object_name: str,
        *,
        bucket_name: str | None = None,
        chunk_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> AsyncIterator[bytes]:
        """The object's content as chunks, read in worker threads one chunk at a time.

        Leaving the loop early releases the connection.
        """
        bucket, obj = self._target(object_name, bucket_name, "download_stream")
        size = chunk_size or self.config.chunk_size
        response = await self._call(
            self._sdk.get_object, bucket, obj, op="download_stream", bucket=bucket, obj=obj
        )
        try:
            total_text = response.headers.get("Content-Length")
            total = int(total_text) if total_text is not None else None
            done = 0
            if progress is not None:
                progress(0, total)
            while chunk := await self._call(
                response.read, size, op="download_stream", bucket=bucket, obj=obj
            ):
                done += len(chunk)
                with self._lock:
                    self._downloaded += len(chunk)
                if progress is not None:
                    progress(done, total)
                yield chunk
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_release, response)

    async def download_file(
        self,
        object_name: str,
        file_path: str | PathLike[str],
        *,
        bucket_name: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Write the object to a local file: streamed into a temporary file in the same
        directory, renamed over ``file_path`` only on success (never a partial file)."""
        bucket, obj = self._target(object_name, bucket_name, "download_file")
        target = anyio.Path(file_path)
        part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            async with await anyio.open_file(part, "wb") as afile:
                stream = cast(
                    "AsyncGenerator[bytes, None]",
                    self.download_stream(obj, bucket_name=bucket, progress=progress),
                )
                async with aclosing(stream):
                    async for chunk in stream:
                        await afile.write(chunk)
            await part.rename(target)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await part.unlink(missing_ok=True)
            raise

    # -- objects ---------------------------------------------------------------------

    async def stat_object(self, object_name: str, *, bucket_name: str | None = None) -> ObjectStat:
        """Size, etag, content type, last modified and user metadata of an object."""
        bucket, obj = self._target(object_name, bucket_name, "stat_object")
        info = await self._call(
            self._sdk.stat_object, bucket, obj, op="stat_object", bucket=bucket, obj=obj
        )
        return ObjectStat.from_sdk(info, bucket, obj)

    async def remove_object(self, object_name: str, *, bucket_name: str | None = None) -> None:
        """Remove an object (no error if it does not exist, as S3 does)."""
        bucket, obj = self._target(object_name, bucket_name, "remove_object")
        await self._call(
            self._sdk.remove_object, bucket, obj, op="remove_object", bucket=bucket, obj=obj
        )

    async def list_objects(
        self, *, bucket_name: str | None = None, prefix: str | None = None, recursive: bool = True
    ) -> list[str]:
        """Object names under ``prefix`` (with ``recursive=False``, "directories" end in ``/``)."""
        return [
            name
            async for name in self.iter_objects(
                bucket_name=bucket_name, prefix=prefix, recursive=recursive
            )
        ]

    async def iter_objects(
        self, *, bucket_name: str | None = None, prefix: str | None = None, recursive: bool = True
    ) -> AsyncIterator[str]:
        """Object names under ``prefix``, fetched in pages of 1000 in worker threads."""
        bucket = self._bucket(bucket_name, "list_objects")
        listing = self._sdk.list_objects(bucket, prefix=prefix, recursive=recursive)
        while batch := await self._call(_next_names, listing, op="list_objects", bucket=bucket):
            for name in batch:
                yield name

    async def generate_presigned_url(
        self,
        object_name: str,
        *,
        bucket_name: str | None = None,
        method: str = "GET",
        expires: timedelta = timedelta(minutes=15),
        response_headers: dict[str, str] | None = None,
    ) -> str:
        """A URL that lets anyone holding it ``GET`` (or ``PUT``...) the object until it expires."""
        bucket, obj = self._target(object_name, bucket_name, "generate_presigned_url")
        if not timedelta(seconds=1) <= expires <= timedelta(days=7):
            msg = "generate_presigned_url: expires must be between 1 second and 7 days"
            raise MinioConfigurationError(msg, operation="generate_presigned_url", resource=bucket)
        url: str = await self._call(
            self._sdk.get_presigned_url,
            method.upper(),
            bucket,
            obj,
            expires,
            cast("Any", response_headers),
            op="generate_presigned_url",
            bucket=bucket,
            obj=obj,
        )
        return url


def _release(response: urllib3.BaseHTTPResponse) -> None:
    response.close()
    response.release_conn()


def _next_names(listing: Iterator[Any]) -> list[str]:
    names: list[str] = []
    for item in listing:
        names.append(str(item.object_name))
        if len(names) >= _LIST_BATCH:
            break
    return names
