"""Commands on a connection of their own (a WATCH transaction's) are spans too."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry.trace import StatusCode
from otel_support import Recorded, attrs, otel

from anyservices.redis import RedisConfig, RedisResponseError, RedisService
from anyservices.testing import Face, open_face

__all__ = ("otel",)


async def test_a_watched_transactions_commands_are_spans_of_the_callers_span(
    face: Face, redis_config: RedisConfig, otel: Recorded
) -> None:
    key, listed = f"w-{uuid.uuid4().hex}", f"l-{uuid.uuid4().hex}"
    async with open_face(face, RedisService(redis_config)) as redis:
        await redis.set(key, "1")
        await redis.rpush(listed, "x")
        with otel.tracer.start_as_current_span("request") as request:
            async with redis.pipeline() as pipe:
                await pipe.watch(key, listed)
                assert await pipe.fetch(key) == "1"
                with pytest.raises(RedisResponseError):
                    await pipe.fetch(listed)  # WRONGTYPE, on the watching connection
                pipe.set(key, "2")
                assert await pipe.execute() == [True]
        assert await redis.get(key) == "2"
    spans = otel.children(request)
    assert [span.name for span in spans] == ["WATCH", "GET", "GET", "MULTI", "SET", "EXEC"]
    failed = spans[2]
    assert attrs(failed)["error.type"] == "anyservices.redis.RedisResponseError"
    assert failed.status.status_code is StatusCode.ERROR
    assert all("error.type" not in attrs(span) for span in spans if span is not failed)
    assert all(attrs(span)["db.system.name"] == "redis" for span in spans)
