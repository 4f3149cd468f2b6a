"""Types shared by the async and sync faces."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TypeAlias

from anyio import AsyncFile

__all__ = ("MinioStatistics", "ObjectStat", "ProgressCallback", "UploadSource")

#: ``progress(bytes_done, total)``; ``total`` is None when the length is unknown. Called on
#: the event loop's thread (the portal's thread on the sync face), never in a worker.
ProgressCallback: TypeAlias = Callable[[int, "int | None"], object]

#: What an upload reads: bytes, an async iterable of bytes chunks, an anyio file, a plain
#: iterable of chunks or a binary file object (read in worker threads, never on the loop).
UploadSource: TypeAlias = (
    bytes
    | bytearray
    | memoryview
    | AsyncIterable[bytes]
    | AsyncFile[bytes]
    | Iterable[bytes]
    | IO[bytes]
)


@dataclass(frozen=True)
class ObjectStat:
    """What ``stat_object`` says about one object."""

    bucket_name: str
    object_name: str
    size: int
    etag: str | None
    content_type: str | None
    last_modified: datetime | None
    #: User metadata, keys without the ``x-amz-meta-`` prefix, lowercase.
    metadata: Mapping[str, str] = field(default_factory=dict[str, str])
    version_id: str | None = None


@dataclass(frozen=True)
class MinioStatistics:
    """A snapshot of the worker threads running SDK calls and the bytes moved."""

    max_concurrency: int
    in_flight: int
    peak_in_flight: int
    calls: int
    errors: int
    bytes_uploaded: int
    bytes_downloaded: int
