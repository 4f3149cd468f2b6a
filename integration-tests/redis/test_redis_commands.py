"""Every command of the contract, one body per behaviour, on asyncio, trio and sync."""

from __future__ import annotations

import anyio
import pytest
from pydantic import BaseModel

from anyservices import ServiceClosedError
from anyservices.redis import (
    RedisConfig,
    RedisConnectError,
    RedisDataError,
    RedisResponseError,
    RedisService,
)
from anyservices.testing import Face, open_face


class User(BaseModel):
    name: str
    age: int


async def test_ping_and_strings(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        assert await redis.ping() is True
        assert await redis.get("missing") is None
        assert await redis.set("k", "v") is True
        assert await redis.get("k") == "v"
        assert await redis.set("k", "other", nx=True) is False
        assert await redis.set("absent", "x", xx=True) is False
        assert await redis.set("k", "w", xx=True) is True
        assert await redis.get("k") == "w"
        assert await redis.set("n", 41) is True
        assert await redis.incr("n") == 42
        assert await redis.incr("n", 8) == 50
        assert await redis.decr("n", 10) == 40
        assert await redis.decr("n") == 39
        assert await redis.exists("k", "n", "missing", "k") == 3
        assert await redis.delete("k", "missing") == 1
        assert await redis.exists("k") == 0
        assert await redis.delete() == 0


async def test_expiry(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        await redis.set("e", "1", ex=100)
        assert 90 < await redis.ttl("e") <= 100
        await redis.set("p", "1", px=1500)
        assert 0 < await redis.ttl("p") <= 2
        await redis.set("plain", "1")
        assert await redis.ttl("plain") == -1
        assert await redis.ttl("missing") == -2
        assert await redis.expire("plain", 50) is True
        assert 40 < await redis.ttl("plain") <= 50
        assert await redis.expire("missing", 5) is False
        with pytest.raises(ValueError, match="exclude"):
            await redis.set("x", "1", nx=True, xx=True)


async def test_hashes(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        assert await redis.hset("h", "a", "1") == 1
        assert await redis.hset("h", "a", "2") == 0
        await redis.hset("h", "b", 3)
        assert await redis.hget("h", "a") == "2"
        assert await redis.hget("h", "zz") is None
        assert await redis.hgetall("h") == {"a": "2", "b": "3"}
        assert await redis.hdel("h", "a", "zz") == 1
        assert await redis.hgetall("h") == {"b": "3"}
        assert await redis.hgetall("missing") == {}


async def test_lists_sets_sorted_sets(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        assert await redis.rpush("l", "a", "b") == 2
        assert await redis.lpush("l", "z") == 3
        assert await redis.lrange("l", 0, -1) == ["z", "a", "b"]
        assert await redis.lpop("l") == "z"
        assert await redis.rpop("l") == "b"
        assert await redis.rpop("missing") is None
        assert await redis.sadd("s", "x", "y", "x") == 2
        assert await redis.smembers("s") == {"x", "y"}
        assert await redis.srem("s", "x", "nope") == 1
        assert await redis.smembers("missing") == set()
        assert await redis.zadd("z", {"a": 1, "b": 2.5, "c": 0}) == 3
        assert await redis.zadd("z", {"a": 5}, nx=True) == 0
        assert await redis.zadd("new", {"a": 5}, xx=True) == 0
        assert await redis.zrange("z", 0, -1) == ["c", "a", "b"]
        assert await redis.zrange("z", 0, 0, desc=True) == ["b"]
        assert await redis.zrange("z", 0, -1, withscores=True) == [
            ("c", 0.0),
            ("a", 1.0),
            ("b", 2.5),
        ]
        assert await redis.zrem("z", "a", "nope") == 1


async def test_json_and_models(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        doc = {"a": [1, 2, {"b": None}], "ü": "ß"}
        assert await redis.set_json("j", doc, ex=60) is True
        assert await redis.get_json("j") == doc
        assert await redis.get_json("missing") is None
        await redis.mset_json({"m1": 1, "m2": [2]}, ex=60)
        assert 0 < await redis.ttl("m1") <= 60
        assert await redis.mget_json("m1", "m2", "missing") == {"m1": 1, "m2": [2]}
        await redis.hset_json("hj", "f", {"x": 1})
        assert await redis.hget_json("hj", "f") == {"x": 1}
        assert await redis.hgetall_json("hj") == {"f": {"x": 1}}
        alice = User(name="alice", age=30)
        assert await redis.set_model("u1", alice) is True
        assert await redis.get_model("u1", User) == alice
        assert await redis.get_model("missing", User) is None
        await redis.mset_models({"u2": User(name="bob", age=4)})
        assert await redis.mget_models(User, "u1", "u2", "nope") == {
            "u1": alice,
            "u2": User(name="bob", age=4),
        }
        await redis.hset_model("users", "alice", alice)
        assert await redis.hget_model("users", "alice", User) == alice
        await redis.set_json("bad", {"name": "x", "age": "old"})
        with pytest.raises(RedisDataError, match="age") as info:
            await redis.get_model("bad", User)
        assert info.value.resource == "bad"
        await redis.set("notjson", "{")
        with pytest.raises(RedisDataError, match="JSON"):
            await redis.get_json("notjson")
        with pytest.raises(RedisDataError):
            await redis.set_json("x", object())


async def test_namespace_applies_and_isolates(face: Face, redis_config: RedisConfig) -> None:
    other = redis_config.model_copy(update={"namespace": None})
    async with (
        open_face(face, RedisService(redis_config)) as redis,
        open_face(face, RedisService(other)) as raw,
    ):
        key = f"only-{redis_config.namespace}"
        await redis.set(key, "v")
        assert await raw.get(f"{redis_config.namespace}:{key}") == "v"
        assert await raw.get(key) is None
        await redis.check_rate_limit("rl", 5, 10)
        assert await raw.exists(f"{redis_config.namespace}:ratelimit:rl") == 1
        await raw.delete(
            f"{redis_config.namespace}:{key}", f"{redis_config.namespace}:ratelimit:rl"
        )


async def test_errors_are_mapped(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        await redis.set("s", "text")
        with pytest.raises(RedisResponseError) as info:
            await redis.incr("s")
        assert info.value.operation == "INCRBY"
        await redis.rpush("list", "a")
        with pytest.raises(RedisResponseError, match="WRONGTYPE") as wrong:
            await redis.get("list")
        assert wrong.value.code == "WRONGTYPE"
        assert await redis.execute_command("ECHO", "still fine") == "still fine"


async def test_execute_command_and_statistics(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        assert await redis.execute_command("ECHO", "hi") == "hi"
        stats = redis.statistics()
        assert stats.connections == 1
        assert stats.commands_sent >= 1
        assert await redis.publish("nobody-listens", "m") == 0


async def test_unreachable_server_fails_fast(face: Face) -> None:
    with pytest.raises(RedisConnectError, match=r"127\.0\.0\.1:1"):
        async with open_face(face, RedisService(RedisConfig(port=1))):
            pytest.fail("must not open")


async def test_closed_service_refuses(redis_config: RedisConfig) -> None:
    service = RedisService(redis_config)
    async with service:
        pass
    with pytest.raises(ServiceClosedError):
        await service.get("k")


async def test_reconnects_after_the_connection_is_killed(
    face: Face, redis_config: RedisConfig
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        await redis.set("k", "v")
        name = f"victim-{redis_config.namespace}"
        await redis.execute_command("CLIENT", "SETNAME", name)
        async with RedisService(redis_config.model_copy(update={"namespace": None})) as admin:
            clients = await admin.execute_command("CLIENT", "LIST")
            ids = [
                line.split()[0].removeprefix("id=")
                for line in clients.splitlines()
                if f"name={name}" in line
            ]
            assert len(ids) == 1
            await admin.execute_command("CLIENT", "KILL", "ID", ids[0])
        with anyio.fail_after(5):
            while True:
                try:
                    assert await redis.get("k") == "v"
                    break
                except RedisConnectError:
                    await anyio.sleep(0.01)  # the next call reconnects
        assert redis.statistics().reconnects == 1


async def test_binary_value_fails_only_its_call(face: Face, redis_config: RedisConfig) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        await redis.set("bin", b"\xff\xfe")
        with pytest.raises(RedisDataError, match="decode_responses"):
            await redis.get("bin")
        assert await redis.execute_command("ECHO", "fine") == "fine"
        assert redis.statistics().reconnects == 0
