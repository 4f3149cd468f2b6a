"""Vector search on Redis Stack (RediSearch): index definition, KNN queries, results."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Literal

from ._errors import RedisDataError
from ._keys import Keys
from ._protocol import Arg

__all__ = (
    "Algorithm",
    "DistanceMetric",
    "create_index_args",
    "parse_search",
    "search_args",
    "vector_bytes",
)

Algorithm = Literal["FLAT", "HNSW"]
DistanceMetric = Literal["COSINE", "L2", "IP"]


def vector_bytes(vector: Sequence[float]) -> bytes:
    """A vector as RediSearch stores it in a hash field: little-endian float32."""
    try:
        return struct.pack(f"<{len(vector)}f", *vector)
    except struct.error as exc:
        raise RedisDataError(f"not a vector of numbers: {exc}") from None


def create_index_args(
    keys: Keys,
    index_name: str,
    prefix: str,
    vector_field: str,
    vector_dims: int,
    distance_metric: DistanceMetric,
    text_fields: Sequence[str] | None,
    numeric_fields: Sequence[str] | None,
    tag_fields: Sequence[str] | None,
    algorithm: Algorithm,
) -> list[Arg]:
    if vector_dims < 1:
        raise ValueError("vector_dims must be at least 1")
    if algorithm not in {"FLAT", "HNSW"}:
        raise ValueError(f"algorithm must be FLAT or HNSW, not {algorithm!r}")
    if distance_metric not in {"COSINE", "L2", "IP"}:
        raise ValueError(f"distance_metric must be COSINE, L2 or IP, not {distance_metric!r}")
    args: list[Arg] = ["FT.CREATE", keys(index_name), "ON", "HASH", "PREFIX", 1, keys(prefix)]
    args += ["SCHEMA", vector_field, "VECTOR", algorithm, 6, "TYPE", "FLOAT32"]
    args += ["DIM", vector_dims, "DISTANCE_METRIC", distance_metric]
    for names, kind in ((text_fields, "TEXT"), (numeric_fields, "NUMERIC"), (tag_fields, "TAG")):
        for name in names or ():
            args += [name, kind]
    return args


def search_args(
    keys: Keys,
    index_name: str,
    vector_field: str,
    query: Sequence[float],
    k: int,
    filter_query: str,
) -> list[Arg]:
    if k < 1:
        raise ValueError("k must be at least 1")
    knn = f"({filter_query})=>[KNN {k} @{vector_field} $vector AS __score]"
    return [
        "FT.SEARCH", keys(index_name), knn, "PARAMS", 2, "vector", vector_bytes(query),
        "SORTBY", "__score", "LIMIT", 0, k, "DIALECT", 2,
    ]  # fmt: skip


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    return value


def parse_search(reply: Any, keys: Keys, vector_field: str) -> list[dict[str, Any]]:
    """``[{"id": ..., "score": ..., <fields>}]`` from a RESP3 map or a RESP2 array reply."""
    rows: list[tuple[Any, dict[Any, Any]]]
    if isinstance(reply, dict):  # RESP3
        resp3: dict[bytes, Any] = reply  # pyright: ignore[reportUnknownVariableType]
        results: list[dict[bytes, Any]] = resp3.get(b"results", [])
        rows = [(result[b"id"], dict(result.get(b"extra_attributes", {}))) for result in results]
    else:  # RESP2: [total, id, [field, value, ...], ...]
        rows = [
            (reply[i], dict(zip(reply[i + 1][::2], reply[i + 1][1::2], strict=True)))
            for i in range(1, len(reply), 2)
        ]
    found: list[dict[str, Any]] = []
    for doc_id, fields in rows:
        row: dict[str, Any] = {"id": keys.strip(_text(doc_id))}
        for name, value in fields.items():
            field = _text(name)
            if field == "__score":
                row["score"] = float(_text(value))
            elif field != vector_field:
                row[field] = _text(value)
        found.append(row)
    return found
