"""Frozen results of write operations (ids as ``str``, like every id we hand out)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("BulkWriteResult", "UpdateResult")


@dataclass(frozen=True)
class UpdateResult:
    matched_count: int
    modified_count: int
    #: The new document's id when ``upsert`` inserted one.
    upserted_id: str | None = None


@dataclass(frozen=True)
class BulkWriteResult:
    inserted_count: int
    matched_count: int
    modified_count: int
    deleted_count: int
    upserted_count: int
    #: Index of the operation -> id of the document it upserted.
    upserted_ids: dict[int, str]
