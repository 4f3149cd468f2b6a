"""The demo's documents: metadata served as JSON, content as bytes."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field

__all__ = ("DOCUMENTS", "Document", "content_of")

_KIB = 1024


class Document(BaseModel):
    """What the local HTTP server lists for each document."""

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str
    author: str
    size: int = Field(ge=0)
    sha256: str


def content_of(document_id: str, size: int) -> bytes:
    """Deterministic bytes for a document (a repeated digest, so nothing is stored)."""
    block = hashlib.sha256(document_id.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def _document(number: int, title: str, author: str, size: int) -> Document:
    document_id = f"doc-{number}"
    digest = hashlib.sha256(content_of(document_id, size)).hexdigest()
    return Document(id=document_id, title=title, author=author, size=size, sha256=digest)


DOCUMENTS: tuple[Document, ...] = (
    _document(1, "Notes on the Analytical Engine", "ada", 96 * _KIB),
    _document(2, "A Mathematical Theory of Communication", "claude", 320 * _KIB),
    _document(3, "On Computable Numbers", "alan", 48 * _KIB),
    _document(4, "The Humble Programmer", "edsger", 1536 * _KIB),
    _document(5, "Sketch of the Analytical Engine", "ada", 12 * _KIB),
    _document(6, "Go To Statement Considered Harmful", "edsger", 640 * _KIB),
)
