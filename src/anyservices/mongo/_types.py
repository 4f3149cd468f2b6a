"""Type aliases of the MongoService API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

__all__ = ("Document", "IndexKeys", "Query", "Sort", "WriteOperation")

#: A document as returned: a plain dict (``_id`` as stored, usually an ObjectId).
Document: TypeAlias = dict[str, Any]
#: A filter, projection, update or pipeline stage.
Query: TypeAlias = Mapping[str, Any]
#: ``[("field", 1), ("other", -1)]`` (pymongo.ASCENDING/DESCENDING).
Sort: TypeAlias = Sequence[tuple[str, int]]
#: ``"field"`` or ``[("field", 1), ("other", -1)]``.
IndexKeys: TypeAlias = str | Sequence[tuple[str, int | str]]
#: A PyMongo operation object, or a dict of ours: ``{"insert_one": {"document": {...}}}``,
#: ``{"update_one"|"update_many": {"filter", "update", "upsert"?}}``,
#: ``{"replace_one": {"filter", "replacement", "upsert"?}}``,
#: ``{"delete_one"|"delete_many": {"filter"}}``.
WriteOperation: TypeAlias = (
    InsertOne[Any]
    | UpdateOne
    | UpdateMany
    | ReplaceOne[Any]
    | DeleteOne
    | DeleteMany
    | Mapping[str, Mapping[str, Any]]
)
