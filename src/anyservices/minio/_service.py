"""MinioService: the minio SDK (synchronous) driven from worker threads.

The service checks names and resolves the bucket, then hands the SDK call to
``_calls.SdkCalls`` (the one ``ThreadRunner``, errors mapped at ``_errors.map_errors``).
Streamed transfers live in ``_transfers.py``, presigned URLs in ``_presign.py``.
"""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from datetime import timedelta
from typing import TYPE_CHECKING

import anyio
import urllib3
from minio.datatypes import Object

from minio import Minio

from .._core._secrets import mask_url
from .._core._service import Service
from .._core._threads import ThreadRunner
from ._calls import SdkCalls
from ._config import MinioConfig, check_bucket_name, check_object_name
from ._errors import (
    MinioConfigurationError,
    MinioConflictError,
    MinioPermissionDeniedError,
    map_errors,
)
from ._presign import presigned_url
from ._statistics import ByteCounts, MinioStatistics
from ._transfers import download_bytes, download_chunks, download_to_file, upload
from ._types import ObjectStat, ProgressCallback, UploadSource

if TYPE_CHECKING:
    import logging
    from contextlib import AsyncExitStack
    from os import PathLike

    from .._core._portal import Portal
    from ._sync import SyncMinioService

__all__ = ("MinioService",)

#: Object names fetched per worker-thread call while listing.
_LIST_BATCH = 1000
_OCTET_STREAM = "application/octet-stream"
#: ``check_bucket_name`` once per name, not on every call (its checks cost ~7 µs of the
#: event loop's time per call, on a path where the whole of our own work is ~30 µs).
#: Only valid names are remembered: a ``ValueError`` is raised again every time.
_checked_bucket = functools.lru_cache(maxsize=256)(check_bucket_name)


class MinioService(Service[MinioConfig]):
    """S3 object storage (MinIO, Ceph RGW, AWS) on asyncio, trio and the sync face.

    ``async with MinioService(MinioConfig(endpoint="127.0.0.1:9000", default_bucket="b")) as s3:``
    """

    service_name = "minio"

    def __init__(self, config: MinioConfig, *, logger: logging.Logger | None = None) -> None:
        super().__init__(config, logger=logger)
        self._runner = ThreadRunner(config.max_concurrency, name="minio")
        self._counts = ByteCounts()
        self._calls: SdkCalls | None = None

    def _describe(self) -> str:
        scheme = "https" if self.config.secure else "http"
        return (
            f"{mask_url(f'{scheme}://{self.config.endpoint}')} bucket={self.config.default_bucket}"
        )

    async def probe(self) -> None:
        """Raise the reason this service is not ready: one authenticated request (does the
        default bucket exist, or without one, the bucket list)."""
        bucket = self.config.default_bucket
        if bucket is None:
            await self.list_buckets()
        elif not await self.bucket_exists(bucket):
            from ._errors import MinioNotFoundError  # noqa: PLC0415 -- one hunk, no import line

            raise MinioNotFoundError(
                f"the default bucket {bucket!r} does not exist",
                service="minio",
                operation="probe",
                resource=bucket,
                code="NoSuchBucket",
            )

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
        token = cfg.session_token
        with map_errors("connect"):  # the SDK refuses some endpoints ("host:notaport")
            client = Minio(
                cfg.endpoint,
                access_key=cfg.access_key,
                secret_key=cfg.secret_key.get_secret_value(),
                session_token=None if token is None else token.get_secret_value(),
                secure=cfg.secure,
                region=cfg.region,
                http_client=http,
            )
        self._calls = calls = SdkCalls(client, self._runner, cfg, self._counts)
        # Fail fast: one authenticated round trip. A GET (not a HEAD, whose 403 has no body)
        # so that a wrong secret says SignatureDoesNotMatch rather than AccessDenied.
        try:
            await calls.run(client.list_buckets, "connect")
        except MinioPermissionDeniedError:
            if cfg.default_bucket is None:  # credentials limited to a bucket: probe it below
                raise
        bucket = cfg.default_bucket
        if bucket is not None and cfg.auto_create_bucket:
            await _ensure(calls, bucket)
        elif bucket is not None:
            await calls.run(functools.partial(client.bucket_exists, bucket), "connect", bucket)

    def __blocking__(self, portal: Portal) -> SyncMinioService:
        from .._core._syncface import sync_face  # noqa: PLC0415 -- only blocking() needs it

        face: SyncMinioService = sync_face(portal, self)  # registered by ._sync
        return face

    # -- internals -------------------------------------------------------------------

    @property
    def _sdk(self) -> SdkCalls:
        self._check_open()
        assert self._calls is not None  # noqa: S101 -- set by _open
        return self._calls

    def _bucket(self, bucket_name: str | None, op: str) -> str:
        self._check_open()
        name = bucket_name if bucket_name is not None else self.config.default_bucket
        if name is None:
            msg = f"{op}: bucket_name not given and MinioConfig.default_bucket is not set"
            raise MinioConfigurationError(msg, operation=op)
        try:
            return _checked_bucket(name)
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

    # -- plain methods ---------------------------------------------------------------

    def statistics(self) -> MinioStatistics:
        """The worker threads (in use, peak, waiting, calls, errors) and the bytes moved."""
        return self._counts.snapshot(self._runner.statistics())

    def _gauges(self) -> dict[str, int]:
        return self._runner.gauges()

    @property
    def client(self) -> Minio:
        """The underlying ``minio.Minio`` client, for what this service does not wrap.

        Its methods block: on the async faces call them in a worker thread.
        """
        return self._sdk.client

    # -- buckets ---------------------------------------------------------------------

    async def health_check(self) -> list[str]:
        """The names of the buckets the credentials can see (one authenticated round trip).

        Raises the reason when the server cannot answer (``MinioConnectError``, ...).
        """
        return await self.list_buckets()

    async def bucket_exists(self, bucket_name: str) -> bool:
        """Whether the bucket exists."""
        bucket = self._bucket(bucket_name, "bucket_exists")
        sdk = self._sdk
        return await sdk.run(
            functools.partial(sdk.client.bucket_exists, bucket), "bucket_exists", bucket
        )

    async def ensure_bucket(self, bucket_name: str) -> None:
        """Create the bucket unless it exists."""
        bucket = self._bucket(bucket_name, "ensure_bucket")
        await _ensure(self._sdk, bucket)

    async def remove_bucket(self, bucket_name: str | None = None) -> None:
        """Remove an empty bucket."""
        bucket = self._bucket(bucket_name, "remove_bucket")
        sdk = self._sdk
        await sdk.run(functools.partial(sdk.client.remove_bucket, bucket), "remove_bucket", bucket)

    async def list_buckets(self) -> list[str]:
        """The names of the buckets the credentials can see."""
        sdk = self._sdk
        buckets = await sdk.run(sdk.client.list_buckets, "list_buckets")
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
        in ``part_size`` parts). With ``length``, a source that holds more or fewer bytes
        raises ``MinioDataError``. If the upload fails or is cancelled, no object appears.
        """
        op = "upload_data"
        bucket, obj = self._target(object_name, bucket_name, op)
        await upload(
            self._sdk,
            op,
            bucket,
            obj,
            data,
            length=length,
            content_type=content_type or _OCTET_STREAM,
            metadata=metadata,
            progress=progress,
        )
        return obj

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
        """Upload a local file (read with anyio's file API, streamed); returns the object name.

        A file that grows or shrinks while it is read raises ``MinioDataError``.
        """
        op = "upload_file"
        bucket, obj = self._target(object_name, bucket_name, op)
        path = anyio.Path(file_path)
        size = (await path.stat()).st_size
        ctype = content_type or mimetypes.guess_type(str(path))[0] or _OCTET_STREAM
        async with await anyio.open_file(path, "rb") as afile:
            await upload(
                self._sdk,
                op,
                bucket,
                obj,
                afile,
                length=size,
                content_type=ctype,
                metadata=metadata,
                progress=progress,
            )
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
        op = "download_data"
        bucket, obj = self._target(object_name, bucket_name, op)
        if progress is None:
            return await download_bytes(self._sdk, op, bucket, obj)
        chunks = download_chunks(self._sdk, op, bucket, obj, self.config.chunk_size, progress)
        return b"".join([chunk async for chunk in chunks])

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
        op = "download_stream"
        bucket, obj = self._target(object_name, bucket_name, op)
        size = chunk_size or self.config.chunk_size
        async with aclosing(download_chunks(self._sdk, op, bucket, obj, size, progress)) as chunks:
            async for chunk in chunks:
                yield chunk

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
        op = "download_file"
        bucket, obj = self._target(object_name, bucket_name, op)
        await download_to_file(self._sdk, op, bucket, obj, file_path, progress)

    # -- objects ---------------------------------------------------------------------

    async def stat_object(self, object_name: str, *, bucket_name: str | None = None) -> ObjectStat:
        """Size, etag, content type, last modified and metadata, as the SDK's ``Object``."""
        op = "stat_object"
        bucket, obj = self._target(object_name, bucket_name, op)
        sdk = self._sdk
        info: Object = await sdk.run(
            functools.partial(sdk.client.stat_object, bucket, obj), op, bucket, obj
        )
        return ObjectStat.from_sdk(info, bucket, obj)

    async def remove_object(self, object_name: str, *, bucket_name: str | None = None) -> None:
        """Remove an object (no error if it does not exist, as S3 does)."""
        op = "remove_object"
        bucket, obj = self._target(object_name, bucket_name, op)
        sdk = self._sdk
        await sdk.run(functools.partial(sdk.client.remove_object, bucket, obj), op, bucket, obj)

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
        op = "list_objects"
        bucket = self._bucket(bucket_name, op)
        sdk = self._sdk
        listing = sdk.client.list_objects(bucket, prefix=prefix, recursive=recursive)
        while batch := await sdk.run(functools.partial(_next_names, listing), op, bucket):
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
        return await presigned_url(self._sdk, method, bucket, obj, expires, response_headers)


async def _ensure(sdk: SdkCalls, bucket: str) -> None:
    op = "ensure_bucket"
    if await sdk.run(functools.partial(sdk.client.bucket_exists, bucket), op, bucket):
        return
    try:
        await sdk.run(functools.partial(sdk.client.make_bucket, bucket), op, bucket)
    except MinioConflictError as exc:
        if exc.code != "BucketAlreadyOwnedByYou":  # created meanwhile by us: fine
            raise


def _next_names(listing: Iterator[Object]) -> list[str]:
    names: list[str] = []
    for item in listing:
        names.append(str(item.object_name))
        if len(names) >= _LIST_BATCH:
            break
    return names
