"""Command building and reply parsing shared by RedisService and Pipeline.

Each builder returns a :class:`Command`: the arguments to send (keys already
namespaced) and how to turn the raw reply into the method's return value.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from ._keys import Keys
from ._protocol import Arg

__all__ = ("Command", "Commands")

R = TypeVar("R")
Value = str | bytes | float


def _same(reply: Any) -> Any:
    return reply


def _as_bool(reply: Any) -> bool:
    return bool(reply)


def _is_ok(reply: Any) -> bool:
    return reply is not None


def as_dict(reply: Any) -> dict[str, str]:
    if isinstance(reply, dict):  # RESP3 map
        return cast("dict[str, str]", reply)
    items = cast("list[str]", reply)
    return dict(zip(items[::2], items[1::2], strict=True))  # RESP2 flat list


def _as_set(reply: Any) -> builtins.set[str]:
    return builtins.set(cast("list[str]", reply))


def _scored(reply: Any) -> list[tuple[str, float]]:
    if reply and isinstance(reply[0], list):  # RESP3: [[member, score], ...]
        return [(member, float(score)) for member, score in reply]
    return [(reply[i], float(reply[i + 1])) for i in range(0, len(reply), 2)]


@dataclass(frozen=True, slots=True)
class Command(Generic[R]):
    args: tuple[Arg, ...]
    parse: Callable[[Any], R]


def _cmd(*args: Arg) -> Command[Any]:
    return Command(args, _same)


class Commands:
    """Builders for the contract's commands, with the namespace applied."""

    def __init__(self, keys: Keys) -> None:
        self.k = keys

    def ping(self) -> Command[bool]:
        return Command(("PING",), lambda reply: reply in {"PONG", b"PONG"})

    def get(self, key: str) -> Command[str | None]:
        return _cmd("GET", self.k(key))

    def set(
        self, key: str, value: Value, ex: int | None, px: int | None, nx: bool, xx: bool
    ) -> Command[bool]:
        if nx and xx:
            raise ValueError("nx and xx exclude each other")
        args: list[Arg] = ["SET", self.k(key), value]
        if ex is not None:
            args += ["EX", ex]
        if px is not None:
            args += ["PX", px]
        if nx:
            args.append("NX")
        if xx:
            args.append("XX")
        return Command(tuple(args), _is_ok)

    def delete(self, keys: tuple[str, ...]) -> Command[int]:
        return _cmd("DEL", *self.k.many(keys))

    def exists(self, keys: tuple[str, ...]) -> Command[int]:
        return _cmd("EXISTS", *self.k.many(keys))

    def expire(self, key: str, seconds: int) -> Command[bool]:
        return Command(("EXPIRE", self.k(key), seconds), _as_bool)

    def ttl(self, key: str) -> Command[int]:
        return _cmd("TTL", self.k(key))

    def incr(self, key: str, amount: int) -> Command[int]:
        return _cmd("INCRBY", self.k(key), amount)

    def decr(self, key: str, amount: int) -> Command[int]:
        return _cmd("DECRBY", self.k(key), amount)

    def hget(self, name: str, key: str) -> Command[str | None]:
        return _cmd("HGET", self.k(name), key)

    def hset(self, name: str, key: str, value: Value) -> Command[int]:
        return _cmd("HSET", self.k(name), key, value)

    def hgetall(self, name: str) -> Command[dict[str, str]]:
        return Command(("HGETALL", self.k(name)), as_dict)

    def hdel(self, name: str, keys: tuple[str, ...]) -> Command[int]:
        return _cmd("HDEL", self.k(name), *keys)

    def push(self, side: str, name: str, values: tuple[Value, ...]) -> Command[int]:
        return _cmd(f"{side}PUSH", self.k(name), *values)

    def pop(self, side: str, name: str) -> Command[str | None]:
        return _cmd(f"{side}POP", self.k(name))

    def lrange(self, name: str, start: int, end: int) -> Command[list[str]]:
        return _cmd("LRANGE", self.k(name), start, end)

    def sadd(self, name: str, values: tuple[Value, ...]) -> Command[int]:
        return _cmd("SADD", self.k(name), *values)

    def smembers(self, name: str) -> Command[builtins.set[str]]:
        return Command(("SMEMBERS", self.k(name)), _as_set)

    def srem(self, name: str, values: tuple[Value, ...]) -> Command[int]:
        return _cmd("SREM", self.k(name), *values)

    def zadd(self, name: str, mapping: Mapping[str, float], nx: bool, xx: bool) -> Command[int]:
        if nx and xx:
            raise ValueError("nx and xx exclude each other")
        args: list[Arg] = ["ZADD", self.k(name)]
        if nx:
            args.append("NX")
        if xx:
            args.append("XX")
        for member, score in mapping.items():
            args += [score, member]
        return _cmd(*args)

    def zrange(
        self, name: str, start: int, end: int, desc: bool, withscores: bool
    ) -> Command[list[str] | list[tuple[str, float]]]:
        args: list[Arg] = ["ZRANGE", self.k(name), start, end]
        if desc:
            args.append("REV")
        if withscores:
            args.append("WITHSCORES")
            return Command(tuple(args), _scored)
        return _cmd(*args)

    def zrem(self, name: str, values: tuple[str, ...]) -> Command[int]:
        return _cmd("ZREM", self.k(name), *values)

    def publish(self, channel: str, message: str | bytes) -> Command[int]:
        return _cmd("PUBLISH", self.k(channel), message)

    def spublish(self, channel: str, message: str | bytes) -> Command[int]:
        return _cmd("SPUBLISH", self.k(channel), message)
