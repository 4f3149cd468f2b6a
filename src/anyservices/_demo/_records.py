"""Where the demo puts each document, and the MongoDB queries both pipelines share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._documents import Document

__all__ = ("INDEX_KEYS", "authors_pipeline", "object_name", "record", "record_id")

#: The compound index the demo creates on its collection.
INDEX_KEYS = [("face", 1), ("author", 1)]


def object_name(face: str, document_id: str) -> str:
    """The S3 object holding a document's body."""
    return f"{face}/{document_id}.bin"


def record_id(face: str, document_id: str) -> str:
    """The MongoDB ``_id`` of a document's metadata."""
    return f"{face}:{document_id}"


def record(face: str, document: Document) -> dict[str, Any]:
    """The metadata stored in MongoDB for ``document``."""
    return {
        **document.model_dump(),
        "face": face,
        "object": object_name(face, document.id),
        "stored_at": datetime.now(UTC),
    }


def authors_pipeline(face: str) -> list[dict[str, Any]]:
    """Count a face's documents per author."""
    return [{"$match": {"face": face}}, {"$group": {"_id": "$author", "n": {"$sum": 1}}}]
