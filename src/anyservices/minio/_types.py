"""Types shared by the async and sync faces."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TypeAlias

from anyio import AsyncFile
from minio.commonconfig import Tags
from minio.datatypes import Object
from urllib3 import HTTPHeaderDict

__all__ = ("ObjectStat", "ProgressCallback", "UploadSource")

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
    """What ``stat_object`` says about one object.

    It has the attributes of the SDK's ``minio.datatypes.Object`` (what the original
    returned), typed: ``metadata`` is every response header as the SDK keys it,
    case-insensitive (``stat.metadata["x-amz-meta-owner"]``, ``["Content-Type"]``);
    ``user_metadata`` is the user metadata alone, keys lowercase without ``x-amz-meta-``.
    """

    bucket_name: str
    object_name: str
    last_modified: datetime | None
    etag: str | None
    size: int
    metadata: Mapping[str, str]
    version_id: str | None = None
    is_latest: str | None = None
    storage_class: str | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    content_type: str | None = None
    is_delete_marker: bool = False
    tags: Tags | None = None

    @property
    def is_dir(self) -> bool:
        """Whether the name ends in ``/`` (a "directory" placeholder)."""
        return self.object_name.endswith("/")

    @property
    def user_metadata(self) -> dict[str, str]:
        """The ``x-amz-meta-*`` headers, keys lowercase without the prefix."""
        prefix = "x-amz-meta-"
        return {
            key.lower().removeprefix(prefix): value
            for key, value in self.metadata.items()
            if key.lower().startswith(prefix)
        }

    @classmethod
    def from_sdk(cls, info: Object, bucket_name: str, object_name: str) -> ObjectStat:
        """The stat of the SDK's answer (its headers copied, still case-insensitive)."""
        return cls(
            bucket_name=bucket_name,
            object_name=object_name,
            last_modified=info.last_modified,
            etag=info.etag,
            size=info.size or 0,
            metadata=HTTPHeaderDict(info.metadata or {}),
            version_id=info.version_id,
            is_latest=info.is_latest,
            storage_class=info.storage_class,
            owner_id=info.owner_id,
            owner_name=info.owner_name,
            content_type=info.content_type,
            is_delete_marker=info.is_delete_marker,
            tags=info.tags,
        )
