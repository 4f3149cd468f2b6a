"""RESP: encoding commands, and parsing replies with hiredis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import hiredis

from ._errors import RedisDataError

__all__ = ("NOT_ENOUGH_DATA", "Arg", "Parser", "encode_command")

Arg = str | bytes | int | float
NOT_ENOUGH_DATA: Final = object()


def encode_command(args: Sequence[object], encoding: str = "utf-8") -> bytes:
    """``SET k v`` -> ``*3\\r\\n$3\\r\\nSET\\r\\n...``: bulk strings, as Redis expects."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode(encoding)
        elif isinstance(arg, bool):
            raise RedisDataError(f"booleans are ambiguous in Redis; pass 0/1 or a string: {arg!r}")
        elif isinstance(arg, int | float):
            data = repr(arg).encode()
        else:
            raise RedisDataError(f"cannot send {type(arg).__name__} to Redis: {arg!r}")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class Parser:
    """An incremental reply parser; ``next(decode)`` returns one reply or NOT_ENOUGH_DATA.

    Error replies come back as ``hiredis.ReplyError`` values, not raised, so one bad
    reply in a batch does not disturb the others.
    """

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._reader = hiredis.Reader(notEnoughData=NOT_ENOUGH_DATA, encoding=encoding)
        self._decoding = True

    def feed(self, data: bytes) -> None:
        self._reader.feed(data)

    def next(self, decode: bool) -> Any:
        if decode is not self._decoding:
            self._reader.set_encoding(self._encoding if decode else None)
            self._decoding = decode
        return self._reader.gets()
