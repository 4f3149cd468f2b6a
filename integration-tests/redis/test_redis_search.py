"""Vector search on Redis Stack, FLAT and HNSW, on asyncio, trio and sync."""

from __future__ import annotations

import pytest

from anyservices.redis import RedisConfig, RedisResponseError, RedisService, vector_bytes
from anyservices.testing import Face, open_face

DOCS = {
    "doc:1": ([1.0, 0.0, 0.0], "red apple", 3, "fruit"),
    "doc:2": ([0.9, 0.1, 0.0], "green apple", 5, "fruit"),
    "doc:3": ([0.0, 1.0, 0.0], "carrot", 2, "veg"),
    "doc:4": ([0.0, 0.0, 1.0], "salt", 1, "mineral"),
}


@pytest.mark.parametrize("algorithm", ["FLAT", "HNSW"])
async def test_knn_with_filters(
    face: Face, redis_stack_config: RedisConfig, algorithm: str
) -> None:
    async with open_face(face, RedisService(redis_stack_config)) as redis:
        # Index first: hashes written later are indexed as they are written.
        await redis.create_vector_index(
            "items", "doc:", "embedding", 3,
            text_fields=["name"], numeric_fields=["price"], tag_fields=["kind"],
            algorithm=algorithm,  # type: ignore[arg-type]
        )  # fmt: skip
        for key, (vector, name, price, kind) in DOCS.items():
            await redis.hset(key, "embedding", vector_bytes(vector))
            await redis.hset(key, "name", name)
            await redis.hset(key, "price", price)
            await redis.hset(key, "kind", kind)
        try:
            hits = await redis.vector_search("items", "embedding", [1.0, 0.05, 0.0], k=2)
            assert [hit["id"] for hit in hits] == ["doc:1", "doc:2"]
            assert hits[0]["score"] <= hits[1]["score"]
            assert hits[0]["name"] == "red apple"
            assert "embedding" not in hits[0]
            veg = await redis.vector_search(
                "items", "embedding", [1.0, 0.0, 0.0], k=3, filter_query="@kind:{veg}"
            )
            assert [hit["id"] for hit in veg] == ["doc:3"]
            cheap = await redis.vector_search(
                "items", "embedding", [1.0, 0.0, 0.0], k=4, filter_query="@price:[0 2]"
            )
            assert {hit["id"] for hit in cheap} == {"doc:3", "doc:4"}
        finally:
            await redis.drop_index("items", delete_documents=True)
        assert await redis.exists(*DOCS) == 0
        with pytest.raises(RedisResponseError):
            await redis.vector_search("items", "embedding", [1.0, 0.0, 0.0])


async def test_bad_index_arguments(face: Face, redis_stack_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_stack_config)) as redis:
        with pytest.raises(ValueError, match="algorithm"):
            await redis.create_vector_index("x", "p:", "v", 3, algorithm="IVF")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="vector_dims"):
            await redis.create_vector_index("x", "p:", "v", 0)
        with pytest.raises(ValueError, match="k must"):
            await redis.vector_search("x", "v", [1.0], k=0)
