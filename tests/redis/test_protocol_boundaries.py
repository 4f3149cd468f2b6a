"""Every byte boundary of every RESP3 type, and the error-reply mapping."""

from __future__ import annotations

import hiredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyservices._core._errors import AuthenticationError, CommandError, PermissionDeniedError
from anyservices.redis._errors import (
    RedisAuthenticationError,
    RedisPermissionError,
    RedisResponseError,
    response_error,
)
from anyservices.redis._protocol import NOT_ENOUGH_DATA, Parser, encode_command

# One frame of each RESP3 type, and what it parses to (decoded).
FRAMES: list[tuple[bytes, object]] = [
    (b"+OK\r\n", "OK"),
    (b":-42\r\n", -42),
    (b"$6\r\nh\xc3\xa9llo\r\n", "héllo"),
    (b"$0\r\n\r\n", ""),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"_\r\n", None),
    (b",3.25\r\n", 3.25),
    (b",inf\r\n", float("inf")),
    (b"#t\r\n", True),
    (b"#f\r\n", False),
    # hiredis gives big numbers as their text; Redis 7's commands do not send them.
    (b"(12345678901234567890123\r\n", "12345678901234567890123"),
    (b"=8\r\ntxt:abcd\r\n", "abcd"),
    (b"%2\r\n+a\r\n:1\r\n+b\r\n*2\r\n:2\r\n:3\r\n", {"a": 1, "b": [2, 3]}),
    (b"~2\r\n+x\r\n+y\r\n", ["x", "y"]),  # hiredis gives RESP3 sets as lists
    (b"*3\r\n$1\r\na\r\n*0\r\n%0\r\n", ["a", [], {}]),
]
STREAM = b"".join(frame for frame, _ in FRAMES)
EXPECTED = [value for _, value in FRAMES]


def _drain(parser: Parser, decode: bool = True) -> list[object]:
    replies: list[object] = []
    while (reply := parser.next(decode)) is not NOT_ENOUGH_DATA:
        replies.append(reply)
    return replies


def test_each_frame_parses() -> None:
    parser = Parser("utf-8")
    parser.feed(STREAM)
    assert _drain(parser) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_every_single_cut(cut: int) -> None:
    parser = Parser("utf-8")
    parser.feed(STREAM[:cut])
    replies = _drain(parser)
    parser.feed(STREAM[cut:])
    assert replies + _drain(parser) == EXPECTED


def test_one_byte_at_a_time() -> None:
    parser = Parser("utf-8")
    replies: list[object] = []
    for i in range(len(STREAM)):
        parser.feed(STREAM[i : i + 1])
        replies += _drain(parser)
    assert replies == EXPECTED


def test_push_frames_are_marked() -> None:
    parser = Parser("utf-8")
    parser.feed(b">3\r\n+message\r\n+ch\r\n+hi\r\n*1\r\n+plain\r\n")
    push, plain = _drain(parser)
    assert type(push) is hiredis.PushNotification
    assert push == ["message", "ch", "hi"]
    assert type(plain) is list


def test_undecoded_replies_are_bytes() -> None:
    parser = Parser("utf-8")
    parser.feed(b"$2\r\n\xff\xfe\r\n%1\r\n+k\r\n+v\r\n")
    assert _drain(parser, decode=False) == [b"\xff\xfe", {b"k": b"v"}]


def test_errors_are_values_and_the_stream_goes_on() -> None:
    parser = Parser("utf-8")
    parser.feed(b"-ERR one\r\n:1\r\n")
    first, second = _drain(parser)
    assert isinstance(first, hiredis.ReplyError)
    assert str(first) == "ERR one"
    assert second == 1


def test_blob_errors_are_a_protocol_error() -> None:
    """hiredis does not read RESP3 blob errors (Redis 7 sends simple errors only): the
    connection is dropped rather than a reply misread."""
    parser = Parser("utf-8")
    parser.feed(b"!9\r\nSYNTAX er\r\n")
    with pytest.raises(hiredis.ProtocolError):
        parser.next(True)


def test_garbage_is_a_protocol_error() -> None:
    parser = Parser("utf-8")
    parser.feed(b"?nope\r\n")
    with pytest.raises(hiredis.ProtocolError):
        parser.next(True)


@given(st.lists(st.one_of(st.binary(max_size=20), st.text(max_size=10), st.integers()), max_size=6))
def test_encoded_commands_parse_back(args: list[bytes | str | int]) -> None:
    """What we send is valid RESP: hiredis reads it back as the same bulk strings."""
    reader = hiredis.Reader()
    reader.feed(encode_command(args))
    expected = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    assert reader.gets() == expected


@pytest.mark.parametrize(
    ("message", "kind", "core"),
    [
        ("WRONGPASS invalid username-password pair", RedisAuthenticationError, AuthenticationError),
        ("NOAUTH Authentication required.", RedisAuthenticationError, AuthenticationError),
        ("ERR invalid password", RedisAuthenticationError, AuthenticationError),
        ("NOPERM this user has no permissions", RedisPermissionError, PermissionDeniedError),
        ("WRONGTYPE Operation against a key", RedisResponseError, CommandError),
        ("NOSCRIPT No matching script", RedisResponseError, CommandError),
        ("BUSYGROUP Consumer Group name already exists", RedisResponseError, CommandError),
    ],
)
def test_error_replies_map_to_the_most_specific_class(
    message: str, kind: type[Exception], core: type[Exception]
) -> None:
    error = response_error(message, "GET")
    assert type(error) is kind
    assert isinstance(error, core)
    assert error.operation == "GET"
    if isinstance(error, RedisResponseError):
        assert error.code == message.split(" ", 1)[0]
