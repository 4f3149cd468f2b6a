from __future__ import annotations

import enum

import hiredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyservices.redis import RedisDataError
from anyservices.redis._protocol import NOT_ENOUGH_DATA, Parser, encode_command


def test_encode_command() -> None:
    assert encode_command(["SET", "k", b"\x00v", 12, 1.5]) == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\x00v\r\n$2\r\n12\r\n$3\r\n1.5\r\n"
    )
    assert encode_command(["GET", "ключ"]) == "*2\r\n$3\r\nGET\r\n$8\r\nключ\r\n".encode()


@pytest.mark.parametrize("encoding", ["utf-8", "UTF-8"])  # hiredis's packer, Python's
@pytest.mark.parametrize("bad", [True, None, object(), [1], bytearray(b"x")])
def test_encode_refuses_ambiguous_values(bad: object, encoding: str) -> None:
    with pytest.raises(RedisDataError, match=type(bad).__name__ if bad is not True else "bool"):
        encode_command(["SET", "k", bad], encoding)


_ARGS = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(exclude_categories=["Cs"])),  # no lone surrogates
        st.binary(),
        st.integers(),
        st.floats(),
    ),
    min_size=1,
    max_size=12,
)


@given(_ARGS)
def test_hiredis_packer_and_python_path_give_the_same_bytes(args: list[object]) -> None:
    """UTF-8 commands go through hiredis's C packer; any other spelling of the encoding
    takes the Python path: both send the same bytes."""
    assert encode_command(args) == encode_command(args, "UTF-8")


def test_an_int_enum_is_sent_as_its_value() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    assert encode_command(["SET", "k", Level.HIGH]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n3\r\n"


RESP3 = (
    b"%2\r\n+a\r\n:1\r\n+b\r\n,1.5\r\n"  # map with an integer and a double
    b"~2\r\n+x\r\n+y\r\n"  # set
    b"-WRONGTYPE bad\r\n"  # error reply
    b"$3\r\nabc\r\n"  # bulk string
    b"_\r\n"  # null
    b"*2\r\n:1\r\n$-1\r\n"  # array with a RESP2 null
)


def _all(parser: Parser) -> list[object]:
    replies: list[object] = []
    while (reply := parser.next(True)) is not NOT_ENOUGH_DATA:
        replies.append(reply)
    return replies


def test_parses_resp3_types() -> None:
    parser = Parser("utf-8")
    parser.feed(RESP3)
    replies = _all(parser)
    assert replies[0] == {"a": 1, "b": 1.5}
    assert replies[1] in ({"x", "y"}, ["x", "y"])
    assert isinstance(replies[2], hiredis.ReplyError)
    assert str(replies[2]) == "WRONGTYPE bad"
    assert replies[3:] == ["abc", None, [1, None]]


@given(st.lists(st.integers(min_value=1, max_value=len(RESP3) - 1), max_size=8))
def test_any_split_gives_the_same_replies(cuts: list[int]) -> None:
    parser = Parser("utf-8")
    replies: list[object] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(RESP3)]:
        parser.feed(RESP3[start:cut])
        start = cut
        replies += _all(parser)
    assert len(replies) == 6
    assert replies[0] == {"a": 1, "b": 1.5}
    assert replies[3:] == ["abc", None, [1, None]]


def test_decode_can_change_per_reply() -> None:
    parser = Parser("utf-8")
    parser.feed(b"$2\r\nhi\r\n$2\r\nhi\r\n")
    assert parser.next(False) == b"hi"
    assert parser.next(True) == "hi"
    assert parser.next(True) is NOT_ENOUGH_DATA


@given(st.binary(max_size=64))
def test_bulk_roundtrip(value: bytes) -> None:
    parser = Parser("utf-8")
    parser.feed(b"$%d\r\n%s\r\n" % (len(value), value))
    assert parser.next(False) == value
