"""Unit tests (no network) for the service's edges: argument checks, the faces registry,
pub/sub frames, search parsing and the single-flight's cleanup on failure."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from anyservices._core._syncface import SyncFace, sync_face
from anyservices.redis import Message, RedisConfig, RedisConnectError, RedisService
from anyservices.redis._commands import Commands
from anyservices.redis._faces import FACES
from anyservices.redis._keys import Keys
from anyservices.redis._pubsub import Subscription
from anyservices.redis._scripts import COMPARE_AND_DELETE
from anyservices.redis._search import create_index_args, parse_search
from anyservices.redis._singleflight import SingleFlight


def test_every_face_in_faces_is_registered() -> None:
    for entry in FACES:
        cls = getattr(importlib.import_module(entry[0]), entry[1])
        face: object = sync_face(None, object.__new__(cls))  # type: ignore[arg-type]
        assert isinstance(face, SyncFace)
        assert face.__class__.__name__ == f"Sync{entry[1]}"


def test_zadd_refuses_nx_with_xx() -> None:
    with pytest.raises(ValueError, match="nx and xx"):
        Commands(Keys(None)).zadd("z", {"a": 1.0}, nx=True, xx=True)


def test_index_refuses_an_unknown_metric() -> None:
    with pytest.raises(ValueError, match="distance_metric"):
        create_index_args(Keys(None), "i", "p:", "v", 3, "HAMMING", None, None, None, "FLAT")  # type: ignore[arg-type]


def test_search_results_keep_undecodable_fields_as_bytes() -> None:
    reply = [1, b"doc:1", [b"__score", b"0.5", b"blob", b"\xff\xfe", b"year", 2020]]
    assert parse_search(reply, Keys(None), "vec") == [
        {"id": "doc:1", "score": 0.5, "blob": b"\xff\xfe", "year": 2020}
    ]


def test_pubsub_frames_that_are_no_messages_are_dropped() -> None:
    subscription = Subscription(None, Keys("ns"))  # type: ignore[arg-type]

    def frame(reply: object, *, ignore: bool = False) -> Message | None:
        return subscription._message(reply, ignore_confirmations=ignore)

    assert frame("PONG") is None
    assert frame([]) is None
    assert frame(["pong", ""]) is None
    assert frame([b"message", b"ns:c", b"\xff"]) == Message("c", b"\xff")
    assert frame(["unsubscribe", None, 0]) == Message("", "0", None, "unsubscribe")
    assert frame(["subscribe", "ns:c", 1], ignore=True) is None


async def test_argument_checks_come_before_any_round_trip() -> None:
    redis = RedisService(RedisConfig())  # never opened: nothing may be sent
    with pytest.raises(ValueError, match="max_requests"):
        await redis.check_rate_limit("k", 0, 1)
    with pytest.raises(ValueError, match="window_seconds"):
        await redis.check_rate_limit("k", 1, 0)
    assert await redis.mget_json() == {}
    assert await redis.mget_models(Message) == {}  # type: ignore[type-var]
    assert await redis.delete() == 0
    assert await redis.mset_json({}) is True


class BreakingClient:
    """GET finds nothing, SET NX takes the lock, the second GET breaks; records calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.gets = 0

    async def execute(self, *args: Any, decode: bool | None = None) -> Any:
        self.calls.append(args)
        if args[0] == "GET":
            self.gets += 1
            if self.gets == 3:  # the look after taking the lock
                raise RedisConnectError("the connection broke")
            return None
        if args[0] == "SET":
            return "OK"
        return 1  # EVALSHA of the release


async def test_a_failure_right_after_taking_the_flight_lock_releases_it() -> None:
    client = BreakingClient()
    flight = SingleFlight(client, Keys("ns"))  # type: ignore[arg-type]

    async def produce() -> tuple[str, str]:
        raise AssertionError("never computed")  # pragma: no cover

    with pytest.raises(RedisConnectError):
        await flight.get_or_compute(
            "k", produce, str, ex=None, exclusive=True, lock_timeout=1, wait_timeout=1
        )
    release = client.calls[-1]
    assert release[:4] == ("EVALSHA", COMPARE_AND_DELETE.sha, 1, "ns:flight:k")
