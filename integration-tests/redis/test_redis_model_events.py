"""Typed pub/sub: publish_model and subscribe_models on every face."""

from __future__ import annotations

import anyio
import pytest
from pydantic import BaseModel

from anyservices.redis import RedisConfig, RedisDataError, RedisService
from anyservices.testing import Face, open_face


class Event(BaseModel):
    job_id: str
    attempt: int


async def _publish_until_heard(redis: RedisService, channel: str, event: Event) -> None:
    with anyio.fail_after(5):
        while not await redis.publish_model(channel, event):  # noqa: ASYNC110 -- polls the server
            await anyio.sleep(0.01)


async def test_models_round_trip(face: Face, redis_config: RedisConfig) -> None:
    async with (
        open_face(face, RedisService(redis_config)) as redis,
        redis.subscribe_models("events", Event) as events,
    ):
        assert await redis.publish_model("nobody-listens", Event(job_id="x", attempt=0)) == 0
        await _publish_until_heard(redis, "events", Event(job_id="a", attempt=1))
        await redis.publish_model("events", Event(job_id="b", attempt=2))
        received: list[Event] = []
        with anyio.fail_after(5):
            async for event in events:
                received.append(event)
                if len(received) == 2:
                    break
        assert received == [Event(job_id="a", attempt=1), Event(job_id="b", attempt=2)]


async def test_an_invalid_message_names_the_field(face: Face, redis_config: RedisConfig) -> None:
    async with (
        open_face(face, RedisService(redis_config)) as redis,
        redis.subscribe_models("events", Event) as events,
    ):
        with anyio.fail_after(5):
            while not await redis.publish("events", '{"job_id": "a", "attempt": "secret-x"}'):  # noqa: ASYNC110 -- polls the server
                await anyio.sleep(0.01)
        with pytest.raises(RedisDataError, match="attempt") as caught:
            with anyio.fail_after(5):
                await anext(aiter(events))
        assert caught.value.resource == "events"
        assert "secret-x" not in str(caught.value)  # the data is never echoed


async def test_invalid_messages_are_skipped_when_asked(
    face: Face, redis_config: RedisConfig
) -> None:
    async with (
        open_face(face, RedisService(redis_config)) as redis,
        redis.subscribe_models("events", Event, skip_invalid=True) as events,
    ):
        with anyio.fail_after(5):
            while not await redis.publish("events", "not json"):  # noqa: ASYNC110 -- polls the server
                await anyio.sleep(0.01)
        await redis.publish("events", '{"job_id": 1}')
        await redis.publish_model("events", Event(job_id="ok", attempt=3))
        with anyio.fail_after(5):
            assert await anext(aiter(events)) == Event(job_id="ok", attempt=3)
        if face != "sync":  # the sync face hands out a plain iterator
            assert events.skipped == 2


async def test_a_model_that_cannot_be_encoded_raises(face: Face, redis_config: RedisConfig) -> None:
    class Holder(BaseModel):
        value: object

    async with open_face(face, RedisService(redis_config)) as redis:
        with pytest.raises(RedisDataError, match="JSON") as caught:
            await redis.publish_model("events", Holder(value=object()))
        assert caught.value.resource == "events"
