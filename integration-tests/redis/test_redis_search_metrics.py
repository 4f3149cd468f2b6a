"""Vector search distance metrics (L2, IP) and vectors written through a pipeline."""

from __future__ import annotations

import pytest

from anyservices.redis import RedisConfig, RedisService, vector_bytes
from anyservices.testing import Face, open_face


@pytest.mark.parametrize(("metric", "algorithm"), [("L2", "HNSW"), ("IP", "FLAT")])
async def test_metrics_rank_the_nearest_first(
    face: Face, redis_stack_config: RedisConfig, metric: str, algorithm: str
) -> None:
    vectors = {"v:a": [1.0, 0.0], "v:b": [0.8, 0.6], "v:c": [0.0, 1.0]}
    async with open_face(face, RedisService(redis_stack_config)) as redis:
        await redis.create_vector_index(
            "metric", "v:", "vec", 2, distance_metric=metric,  # type: ignore[arg-type]
            tag_fields=["group"], algorithm=algorithm,  # type: ignore[arg-type]
        )  # fmt: skip
        try:
            async with redis.pipeline() as pipe:
                for key, vector in vectors.items():
                    pipe.hset(key, "vec", vector_bytes(vector)).hset(key, "group", "g")
            hits = await redis.vector_search("metric", "vec", [1.0, 0.0], k=3)
            assert [hit["id"] for hit in hits] == ["v:a", "v:b", "v:c"]
            assert hits[0]["score"] == pytest.approx(0.0, abs=1e-6)
            assert [hit["group"] for hit in hits] == ["g", "g", "g"]
            assert (
                await redis.vector_search("metric", "vec", [1.0, 0.0], filter_query="@group:{x}")
                == []
            )
        finally:
            await redis.drop_index("metric")  # the index only: the hashes stay
        assert await redis.exists(*vectors) == len(vectors)
