"""Unit tests (no network) for the service's building blocks: namespacing, command
builders, scripts, cache keys, JSON/model decoding, vector search arguments."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from anyservices.redis import RedisDataError, RedisResponseError, vector_bytes
from anyservices.redis._cache import CacheSettings
from anyservices.redis._commands import Commands
from anyservices.redis._keys import Keys
from anyservices.redis._scripts import FIXED_WINDOW, Script
from anyservices.redis._search import create_index_args, parse_search, search_args
from anyservices.redis._service import _dump, _json, _model
from anyservices.redis._singleflight import SingleFlight

# -- namespacing -----------------------------------------------------------------------


@given(st.text(max_size=20), st.text(max_size=20))
def test_keys_prefix_and_strip_round_trip(namespace: str, key: str) -> None:
    keys = Keys(namespace or None)
    full = keys(key)
    assert full == (f"{namespace}:{key}" if namespace else key)
    assert keys.strip(full) == key
    assert keys.many([key, key]) == [full, full]


def test_every_builder_namespaces_its_keys() -> None:
    c = Commands(Keys("ns"))
    assert c.get("k").args == ("GET", "ns:k")
    assert c.set("k", "v", 5, None, nx=True, xx=False).args == ("SET", "ns:k", "v", "EX", 5, "NX")
    assert c.set("k", "v", None, 250, nx=False, xx=True).args == (
        "SET",
        "ns:k",
        "v",
        "PX",
        250,
        "XX",
    )
    assert c.delete(("a", "b")).args == ("DEL", "ns:a", "ns:b")
    assert c.exists(("a",)).args == ("EXISTS", "ns:a")
    assert c.hget("h", "f").args == ("HGET", "ns:h", "f")
    assert c.push("L", "l", ("x", 1)).args == ("LPUSH", "ns:l", "x", 1)
    assert c.pop("R", "l").args == ("RPOP", "ns:l")
    assert c.sadd("s", ("x",)).args == ("SADD", "ns:s", "x")
    assert c.zrem("z", ("m",)).args == ("ZREM", "ns:z", "m")
    assert c.publish("chan", "hi").args == ("PUBLISH", "ns:chan", "hi")


def test_set_refuses_nx_with_xx() -> None:
    with pytest.raises(ValueError, match="nx and xx"):
        Commands(Keys(None)).set("k", "v", None, None, nx=True, xx=True)


def test_reply_parsers_accept_resp2_and_resp3() -> None:
    c = Commands(Keys(None))
    assert c.ping().parse("PONG") is True
    assert c.set("k", "v", None, None, nx=False, xx=False).parse(None) is False
    assert c.hgetall("h").parse(["a", "1", "b", "2"]) == {"a": "1", "b": "2"}
    assert c.hgetall("h").parse({"a": "1"}) == {"a": "1"}
    scored = c.zrange("z", 0, -1, desc=False, withscores=True)
    assert scored.parse(["a", "1", "b", "2.5"]) == [("a", 1.0), ("b", 2.5)]
    assert scored.parse([["a", 1.0], ["b", 2.5]]) == [("a", 1.0), ("b", 2.5)]


# -- scripts -----------------------------------------------------------------------------


class FakeClient:
    """Answers EVALSHA with NOSCRIPT until SCRIPT LOAD ran, then with ``reply``."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.loaded: set[str] = set()
        self.calls: list[tuple[Any, ...]] = []

    async def execute(self, *args: Any, decode: bool | None = None) -> Any:
        self.calls.append(args)
        if args[0] == "SCRIPT":
            sha = FIXED_WINDOW.sha if args[2] == FIXED_WINDOW.source else Script(args[2]).sha
            self.loaded.add(sha)
            return sha
        if args[1] not in self.loaded:
            raise RedisResponseError("NOSCRIPT No matching script. Please use EVAL.")
        return self.reply


async def test_script_loads_once_on_noscript_then_runs_by_sha() -> None:
    client = FakeClient([1, 4])
    assert await FIXED_WINDOW(client, ["rl"], [5, 1000]) == [1, 4]  # type: ignore[arg-type]
    assert await FIXED_WINDOW(client, ["rl"], [5, 1000]) == [1, 4]  # type: ignore[arg-type]
    verbs = [call[0] for call in client.calls]
    assert verbs == ["EVALSHA", "SCRIPT", "EVALSHA", "EVALSHA"]
    assert client.calls[-1] == ("EVALSHA", FIXED_WINDOW.sha, 1, "rl", 5, 1000)


class RacingClient:
    """The value appears between our first GET and our SET NX: the holder just finished."""

    def __init__(self) -> None:
        self.gets: list[Any] = [None, None, b"stored"]  # the hit path, the lock path, the re-check
        self.calls: list[tuple[Any, ...]] = []

    async def execute(self, *args: Any, decode: bool | None = None) -> Any:
        self.calls.append(args)
        if args[0] == "GET":
            return self.gets.pop(0)
        return "OK" if args[0] == "SET" else 1  # SET NX took the lock; EVALSHA released it


async def test_single_flight_uses_a_value_stored_between_get_and_lock() -> None:
    client = RacingClient()
    produced: list[int] = []

    async def produce() -> tuple[str, Any]:
        produced.append(1)
        return "computed", "computed"

    flight = SingleFlight(client, Keys("ns"))  # type: ignore[arg-type]
    value = await flight.get_or_compute("k", produce, bytes.decode, ex=None, exclusive=True)
    assert value == "stored"
    assert produced == []  # nobody computes what is already there
    assert [call[0] for call in client.calls] == ["GET", "GET", "SET", "GET", "EVALSHA"]
    assert client.calls[2][1] == "ns:flight:k"  # the lock taken ...
    assert client.calls[4][3] == "ns:flight:k"  # ... is the lock released


async def test_script_passes_other_errors_through() -> None:
    class Failing(FakeClient):
        async def execute(self, *args: Any, decode: bool | None = None) -> Any:
            raise RedisResponseError("WRONGTYPE Operation against a key holding the wrong kind")

    with pytest.raises(RedisResponseError, match="WRONGTYPE"):
        await FIXED_WINDOW(Failing(None), ["rl"], [1, 1])  # type: ignore[arg-type]


# -- cache keys ----------------------------------------------------------------------------


def _settings(**overrides: Any) -> CacheSettings:
    values: dict[str, Any] = {
        "ttl": 60,
        "key_prefix": None,
        "namespace": None,
        "skip_cache_if": None,
        "prevent_thundering_herd": False,
    }
    values.update(overrides)
    return CacheSettings(**values)


def sample(a: int, b: str = "x") -> str:
    return f"{a}{b}"


def test_cache_key_names_the_function_and_ignores_kwarg_order() -> None:
    settings = _settings()
    key = settings.key_for(sample, (1,), {"b": "y", "c": [1, 2]})
    assert key.startswith(f"cache:{__name__}.sample:")
    assert key == settings.key_for(sample, (1,), {"c": [1, 2], "b": "y"})
    assert key != settings.key_for(sample, (2,), {"b": "y", "c": [1, 2]})
    assert _settings(key_prefix="p", namespace="n").prefix_for(sample) == "cache:n:p"


def test_cache_key_is_the_same_in_another_process() -> None:
    code = (
        "from anyservices.redis._cache import CacheSettings\n"
        "def sample(a, b='x'): pass\n"
        "sample.__module__ = 'm'\n"
        "print(CacheSettings(60, None, None, None, False).key_for(sample, (1, 'é'), {'z': 2.5}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    )

    def other(a: int, b: str = "x") -> None: ...

    other.__module__, other.__qualname__ = "m", "sample"
    assert out.stdout.strip() == _settings().key_for(other, (1, "é"), {"z": 2.5})


def test_cache_encodes_none_and_honours_skip_cache_if() -> None:
    def skip(value: object) -> bool:
        return value == "skip"

    settings = _settings(skip_cache_if=skip)
    encoded = settings.encode(None, "k")
    assert encoded is not None
    assert CacheSettings.decode(encoded) is None
    assert settings.encode("skip", "k") is None
    with pytest.raises(RedisDataError):
        settings.encode(object(), "k")


# -- JSON and models -------------------------------------------------------------------------


class User(BaseModel):
    name: str
    age: int


def test_json_round_trip_and_errors_name_the_key() -> None:
    assert _json(_dump({"a": [1, None]}, "k"), "k") == {"a": [1, None]}
    assert _json(None, "k") is None
    with pytest.raises(RedisDataError, match="not JSON") as bad:
        _json("{nope", "the-key")
    assert bad.value.resource == "the-key"
    assert "nope" not in str(bad.value)  # the data is never echoed
    with pytest.raises(RedisDataError):
        _dump(object(), "k")


def test_model_validation_failure_names_the_key_and_the_field() -> None:
    assert _model(User, json.dumps({"name": "a", "age": 3}), "u") == User(name="a", age=3)
    with pytest.raises(RedisDataError, match="age") as bad:
        _model(User, json.dumps({"name": "a", "age": "old"}), "user:1")
    assert bad.value.resource == "user:1"


# -- vector search ------------------------------------------------------------------------------


def test_vector_bytes_are_little_endian_float32() -> None:
    assert vector_bytes([1.0, -2.5]) == struct.pack("<2f", 1.0, -2.5)
    with pytest.raises(RedisDataError):
        vector_bytes(["x"])  # type: ignore[list-item]


def test_index_and_query_arguments() -> None:
    keys = Keys("ns")
    args = create_index_args(
        keys, "idx", "doc:", "vec", 3, "L2", ["title"], ["year"], ["tag"], "HNSW"
    )
    assert args[:7] == ["FT.CREATE", "ns:idx", "ON", "HASH", "PREFIX", 1, "ns:doc:"]
    assert args[-6:] == ["title", "TEXT", "year", "NUMERIC", "tag", "TAG"]
    assert "HNSW" in args
    query = search_args(keys, "idx", "vec", [0.0, 1.0, 0.0], 2, "@tag:{a}")
    assert query[1] == "ns:idx"
    assert query[2] == "(@tag:{a})=>[KNN 2 @vec $vector AS __score]"
    with pytest.raises(ValueError, match="vector_dims"):
        create_index_args(keys, "i", "p", "v", 0, "COSINE", None, None, None, "FLAT")
    with pytest.raises(ValueError, match="k must"):
        search_args(keys, "idx", "vec", [1.0], 0, "*")


def test_parse_search_strips_the_namespace_and_the_vector() -> None:
    keys = Keys("ns")
    resp2 = [1, b"ns:doc:1", [b"__score", b"0.25", b"title", b"hi", b"vec", b"\x00\xff"]]
    assert parse_search(resp2, keys, "vec") == [{"id": "doc:1", "score": 0.25, "title": "hi"}]
    resp3 = {
        b"total_results": 1,
        b"results": [
            {b"id": b"ns:doc:2", b"extra_attributes": {b"__score": b"0.5", b"year": b"2020"}}
        ],
    }
    assert parse_search(resp3, keys, "vec") == [{"id": "doc:2", "score": 0.5, "year": "2020"}]
