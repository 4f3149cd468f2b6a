"""What one run of the demo did, and how it is printed."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ("BUCKET", "COLLECTION", "LOOKUP_LIMIT", "Report")

BUCKET = "anyservices-demo"
COLLECTION = "demo_documents"
#: Lookups allowed per minute: fewer than the demo makes, so some are denied.
LOOKUP_LIMIT = 10

_MIB = 1024 * 1024


@dataclass
class Report:
    face: str
    how: str
    source: str = ""
    documents: int = 0
    bytes_stored: int = 0
    progress_updates: int = 0
    verified: int = 0
    indexed: int = 0
    index_name: str = ""
    by_author: dict[str, int] = field(default_factory=dict[str, int])
    computed: int = 0
    cached: int = 0
    allowed: int = 0
    denied: int = 0
    published: int = 0
    received: int = 0
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """Every document went through every step, and the counts agree."""
        n = self.documents
        return (
            n > 0
            and self.verified == n
            and self.indexed == n
            and self.received == self.published == n
            and self.computed + self.cached == self.allowed
            and self.allowed + self.denied == 2 * n
        )

    def lines(self) -> list[str]:
        authors = ", ".join(f"{name} {count}" for name, count in sorted(self.by_author.items()))
        size = f"{self.bytes_stored / _MIB:.1f} MiB"
        head = f"[{self.face}] {self.how}: {self.documents} documents in {self.elapsed_ms:.0f} ms"
        s3 = (
            f"stored {self.documents} objects under {BUCKET}/{self.face}/ ({size},"
            f" {self.progress_updates} progress updates), {self.verified} sizes verified"
        )
        lookups = (
            f"{self.allowed + self.denied} lookups at {LOOKUP_LIMIT}/min: {self.allowed} allowed"
            f" ({self.computed} computed, {self.cached} from cache), {self.denied} denied"
        )
        return [
            head if self.ok else f"{head}  (COUNTS DISAGREE)",
            f"  http   listed {self.documents} documents at {self.source}, streamed each body",
            f"  s3     {s3}",
            f"  mongo  upserted {self.indexed} (index {self.index_name}); by author: {authors}",
            f"  redis  {lookups}",
            f"  redis  published {self.published} events, received {self.received}",
        ]
