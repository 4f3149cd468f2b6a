"""RESP: encoding commands, and parsing replies with hiredis."""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

import hiredis

from ._errors import RedisDataError

__all__ = ("NOT_ENOUGH_DATA", "Arg", "Parser", "Undecodable", "command_name", "encode_command")

Arg = str | bytes | int | float
NOT_ENOUGH_DATA: Final = object()
# Its stub wants a tuple of one item; it takes any length (TypeError for what it cannot pack).
_pack: Final = cast("Callable[[tuple[object, ...]], bytes]", hiredis.pack_command)


def command_name(args: Sequence[Arg]) -> str:
    """A command's name as spans and errors show it (``GET``)."""
    name = args[0] if args else "?"
    return name.decode() if isinstance(name, bytes) else str(name).upper()


def encode_command(args: Sequence[object], encoding: str = "utf-8") -> bytes:
    """``SET k v`` -> ``*3\\r\\n$3\\r\\nSET\\r\\n...``: bulk strings, as Redis expects.

    UTF-8 commands of plain str, bytes, int and float go through hiredis's C packer
    (3-4x faster); anything else (another encoding, a bool, an enum, a bad value) takes
    the Python path, which gives the same bytes and names what it refuses.
    """
    if encoding == "utf-8":
        try:
            return _pack(tuple(args))
        except TypeError:
            pass  # a value the packer does not take: the checks below say which
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode(encoding)
        elif isinstance(arg, bool):
            raise RedisDataError(f"booleans are ambiguous in Redis; pass 0/1 or a string: {arg!r}")
        elif isinstance(arg, int):
            data = b"%d" % arg  # an IntEnum too: its value, not its repr
        elif isinstance(arg, float):
            data = repr(float(arg)).encode()
        else:
            raise RedisDataError(f"cannot send {type(arg).__name__} to Redis: {arg!r}")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class Undecodable:
    """A whole frame that held text not valid in the encoding.

    ``frame`` is the frame with each such string as the bytes the server sent (every
    other string decoded): its kind (a push or a reply) is known, so it is routed like
    any frame; the caller decides what an undecodable frame becomes.
    """

    __slots__ = ("frame",)

    def __init__(self, frame: Any) -> None:
        self.frame = frame


class _Marks(threading.local):
    failed = False


_marks = _Marks()
_ESCAPE = codecs.lookup_error("surrogateescape")
_ERRORS: Final = "anyservices.redis.undecodable"


def _mark(error: UnicodeError) -> tuple[str | bytes, int]:
    """hiredis's decode error handler: note the failure, keep the bytes (escaped)."""
    _marks.failed = True
    return _ESCAPE(error)


codecs.register_error(_ERRORS, _mark)


class Parser:
    """An incremental reply parser; ``next(decode)`` returns one frame or NOT_ENOUGH_DATA.

    Error replies come back as ``hiredis.ReplyError`` values, not raised, so one bad
    reply in a batch does not disturb the others. Decoding never raises: a frame with
    text that is not valid in the encoding comes back whole as :class:`Undecodable`
    (hiredis decodes with an error handler that only notes the failure, so valid
    frames pay nothing for it).
    """

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._reader = hiredis.Reader(
            notEnoughData=NOT_ENOUGH_DATA, encoding=encoding, errors=_ERRORS
        )
        self._decoding = True

    def feed(self, data: bytes) -> None:
        self._reader.feed(data)

    def next(self, decode: bool) -> Any:
        if decode is not self._decoding:  # rare: set once per change, not per frame
            self._reader.set_encoding(self._encoding if decode else None, _ERRORS)
            self._decoding = decode
        try:
            frame = self._reader.gets()
        except hiredis.ProtocolError:
            _marks.failed = False  # a mark from a frame that never came must not outlive it
            raise
        if _marks.failed:
            _marks.failed = False
            return Undecodable(_restore(frame, self._encoding))
        return frame


def _restore(value: Any, encoding: str) -> Any:
    """``value`` with every escaped (undecodable) string turned back into its bytes."""
    if isinstance(value, str):
        try:
            value.encode(encoding)
        except UnicodeEncodeError:
            return value.encode(encoding, "surrogateescape")
        return value
    if isinstance(value, list):
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
        return type(items)([_restore(item, encoding) for item in items])
    if isinstance(value, dict):
        pairs: dict[Any, Any] = value  # pyright: ignore[reportUnknownVariableType]
        return {_restore(k, encoding): _restore(v, encoding) for k, v in pairs.items()}
    return value
