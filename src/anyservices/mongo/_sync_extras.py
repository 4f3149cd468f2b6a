"""Hand-written part of the sync face (``SyncMongoService`` derives from it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .._core._syncface import SyncFace
from ._errors import MongoError
from ._service import MongoService

if TYPE_CHECKING:
    from ._session import MongoSession
    from ._sync import SyncMongoCollection

__all__ = ("MongoSyncExtras",)

T = TypeVar("T")


class MongoSyncExtras(SyncFace[MongoService]):
    """``run_transaction`` takes a plain function here; ``get_collection`` a sync handle."""

    def get_collection(self, name: str) -> SyncMongoCollection:
        """A handle on one collection, with the data methods of the service."""
        from ._sync import SyncMongoCollection  # noqa: PLC0415 -- _sync imports this module

        return SyncMongoCollection(self._portal, self._wrapped.get_collection(name))

    def run_transaction(self, fn: Callable[[MongoSession], T], *, max_retries: int = 3) -> T:
        """Run ``fn(session)`` in a transaction, retrying it whole on transient errors.

        A failure labelled ``TransientTransactionError`` re-runs ``fn`` in a new
        transaction, up to ``max_retries`` times.
        """
        attempt = 0
        while True:
            try:
                with self._portal.wrap_cm(self._wrapped.transaction()) as session:
                    return fn(session)
            except MongoError as exc:
                if not exc.transient or attempt >= max_retries:
                    raise
                attempt += 1
