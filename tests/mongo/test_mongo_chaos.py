"""Hostile settings and data, no network: a ValidationError or our error, never a raw one,
and never a secret in the message."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import bson
import bson.errors
import hypothesis
import pydantic
import pymongo.errors
import pytest
from hypothesis import strategies as st
from pydantic import SecretStr

from anyservices.mongo import MongoConfig, MongoDataError, MongoError, MongoService

SECRET = "hunter2-Secr3t"
T = TypeVar("T")

_url_pieces = st.text(
    alphabet=st.sampled_from("abc019:/?@&=,.%[]+-_ \x00é"), min_size=0, max_size=20
)


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(
    host=_url_pieces,
    tail=_url_pieces,
    scheme=st.sampled_from(["mongodb", "mongodb+srv", "http", ""]),
)
def test_any_url_gives_a_config_or_a_validation_error_naming_url(
    scheme: str, host: str, tail: str
) -> None:
    url = f"{scheme}://alice:{SECRET}@{host}{tail}"
    config, error = _attempt(lambda: MongoConfig(url=SecretStr(url)))
    if error is not None:
        assert [e["loc"] for e in error.errors()] == [("url",)]
        assert SECRET not in str(error)
        assert SECRET not in repr(error.errors())
    else:
        assert config is not None
        assert SECRET not in repr(config)
        assert SECRET not in config.safe_url


def _attempt(build: Callable[[], T]) -> tuple[T | None, pydantic.ValidationError | None]:
    try:
        return build(), None
    except pydantic.ValidationError as exc:
        return None, exc


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=2),
)
_fields = st.sampled_from([*MongoConfig.model_fields, "not_a_field"])


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(values=st.dictionaries(_fields, _values, max_size=4))
def test_any_settings_give_a_config_or_a_validation_error(values: dict[str, Any]) -> None:
    values.setdefault("password", SECRET)
    config, error = _attempt(lambda: MongoConfig.model_validate(values))
    if error is not None:
        assert SECRET not in str(error)
        assert all(e["loc"] for e in error.errors())  # each names its field
    else:
        assert SECRET not in repr(config)
        assert SECRET not in str(config)


_scalars = st.one_of(
    st.none(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.binary(max_size=6),
    st.datetimes(),
    st.sets(st.integers(), max_size=2),
    st.builds(object),
)
_keys = st.one_of(st.text(max_size=4), st.binary(max_size=3), st.integers(), st.none())
_documents = st.dictionaries(
    _keys,
    st.recursive(
        _scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
        max_leaves=6,
    ),
    max_size=4,
)


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(document=_documents)
def test_encoding_any_document_at_the_boundary_gives_bytes_or_our_data_error(
    document: dict[Any, Any],
) -> None:
    # The boundary the data methods go through, with the encoder every write uses.
    service = MongoService(MongoConfig())
    encode = functools.partial(bson.encode, document)
    outcome = anyio.run(_outcome, service, encode)
    if isinstance(outcome, MongoDataError):
        assert outcome.resource == "c"
        assert "object at 0x" not in str(outcome)
    else:
        assert isinstance(outcome, bytes)


async def _outcome(service: MongoService, func: Callable[[], bytes]) -> bytes | MongoDataError:
    try:
        return await service._call(func, "insert_one", "c")
    except MongoDataError as exc:  # anything else fails the test
        return exc


async def test_our_errors_pass_the_boundary_unchanged() -> None:
    service = MongoService(MongoConfig())
    ours = MongoDataError("already ours", operation="x")

    def raise_ours() -> None:
        raise ours

    with pytest.raises(MongoDataError) as caught:
        await service._call(raise_ours, "insert_one", "c")
    assert caught.value is ours


async def test_a_decoding_error_says_so_without_the_bytes() -> None:
    service = MongoService(MongoConfig())

    def decode() -> object:
        return bson.decode(b"\x05\x00\x00\x00\x01")

    with pytest.raises(MongoDataError, match="from the server cannot be decoded"):
        await service._call(decode, "find_one", "c")


@pytest.mark.parametrize(
    "driver",
    [
        bson.errors.InvalidDocument("Key names must not contain the NULL byte"),
        bson.errors.InvalidDocument("documents must have only string keys, key was b'k'"),
        bson.errors.InvalidDocument("something new"),
    ],
)
async def test_invalid_documents_are_described_without_values(
    driver: bson.errors.InvalidDocument,
) -> None:
    service = MongoService(MongoConfig())

    def fail() -> None:
        raise driver

    with pytest.raises(MongoDataError) as caught:
        await service._call(fail, "insert_one", "c")
    assert "b'k'" not in str(caught.value)
    assert isinstance(caught.value.__cause__, bson.errors.InvalidDocument)
    assert isinstance(caught.value, pymongo.errors.PyMongoError)
    assert isinstance(caught.value, MongoError)
