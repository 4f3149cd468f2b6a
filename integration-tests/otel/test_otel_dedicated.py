"""Commands on a connection of their own (a WATCH transaction's) are spans too."""

from __future__ import annotations

import uuid

import anyio
import pytest
from opentelemetry.trace import StatusCode

from anyservices.redis import RedisConfig, RedisResponseError, RedisService
from anyservices.testing import Face, open_face
from otel_support import Recorded, attrs, otel

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


async def _cancel_a_fetch(redis: RedisService) -> None:
    """WATCH, then a GET on the watching connection cancelled while it waits."""
    async with redis.pipeline() as pipe:
        await pipe.watch(f"w-{uuid.uuid4().hex}")
        with anyio.CancelScope() as scope:
            scope.cancel()  # at its first wait for the reply
            await pipe.fetch("k")
        assert scope.cancelled_caught
    assert await redis.ping()  # the shared connections are untouched


@pytest.mark.faces("asyncio", "trio")  # a cancel scope around one call: the async faces
async def test_a_cancelled_command_on_its_own_connection_ends_its_span(
    face: Face, redis_config: RedisConfig, otel: Recorded
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        with otel.tracer.start_as_current_span("request") as request:
            await _cancel_a_fetch(redis)
    spans = otel.children(request)
    assert [span.name for span in spans] == ["WATCH", "GET", "PING"]
    assert all("error.type" not in attrs(span) for span in spans)  # a cancel is no error


@pytest.mark.faces("asyncio", "trio")
async def test_a_cancelled_command_on_its_own_connection_without_a_provider(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        await _cancel_a_fetch(redis)
