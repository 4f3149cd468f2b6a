"""Hostile data and settings: only our errors (or success) come out, never a driver's raw
exception, and secrets stay out of errors, reprs and every log record (PyMongo's too)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import uuid
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from mongo_support import coll, config, make_config, mongo_url
from pydantic import SecretStr

from anyservices import blocking
from anyservices.mongo import (
    MongoAuthenticationError,
    MongoConfig,
    MongoDataError,
    MongoError,
    MongoService,
)
from anyservices.testing import Face, open_face

__all__ = ("coll", "config")

SECRET = "hunter2-Secr3t"


class Opaque:
    """A custom object BSON cannot encode."""


ADVERSARIAL: list[dict[Any, Any]] = [
    {"x": 2**64},
    {"x": -(2**63) - 1},
    {"nested": {"deeper": [{"x": 2**70}]}},
    {"list": [1, [2, [3, 2**80]]]},
    {b"bytes-key": 1},
    {1: "int key"},
    {None: "none key"},
    {("t", 1): "tuple key"},
    {"a\x00b": "NUL in a key"},
    {"x": "\udc80 lone surrogate"},
    {"\udc80": "surrogate key"},
    {"x": {1, 2}},
    {"x": frozenset({1})},
    {"x": Opaque()},
    {"x": complex(1, 2)},
    {"x": dt.date(2020, 1, 1)},
    {"x": dt.timedelta(days=1)},
    {"x": bytearray(b"ab")},
    {"x": range(3)},
    # These encode: they must round-trip, not fail.
    {"x": math.nan},
    {"x": math.inf},
    {"x": dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)},
    {"x": uuid.UUID(int=7)},
    {"x": b"\xff\x00"},
    {"x": 2**63 - 1},
    {"x": (1, 2)},
]


async def test_hostile_documents_raise_only_data_errors(
    face: Face, config: MongoConfig, coll: str
) -> None:
    async with open_face(face, MongoService(config)) as mongo:
        handle = mongo.get_collection(coll)
        stored = 0
        refusals: list[MongoDataError] = []
        for document in ADVERSARIAL:
            outcomes: list[str] = []
            for insert in (mongo.insert_one, handle.insert_many):
                try:
                    if insert is mongo.insert_one:
                        await mongo.insert_one(coll, dict(document))
                    else:
                        await handle.insert_many([dict(document)])
                except MongoDataError as exc:
                    outcomes.append("refused")
                    refusals.append(exc)
                else:
                    outcomes.append("stored")
            assert outcomes[0] == outcomes[1], document
            stored += outcomes[0] == "stored"
            with contextlib.suppress(MongoError):  # as a query: success or ours
                await mongo.find_one(coll, dict(document))
        assert stored == 7  # NaN, inf, a datetime, a UUID, bytes, int64's max, a tuple
        assert {exc.resource for exc in refusals} == {coll}
        assert not [exc for exc in refusals if "Opaque object at" in str(exc)]  # no values


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.sets(st.integers(), max_size=2),
    st.builds(Opaque),
)
_keys = st.one_of(st.text(max_size=6), st.binary(max_size=4), st.integers(), st.none())
_documents = st.dictionaries(
    _keys,
    st.recursive(
        _scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
        max_leaves=6,
    ),
    max_size=4,
)


@hypothesis.settings(
    max_examples=60, deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
@hypothesis.given(document=_documents)
def test_any_document_gives_success_or_our_error(
    mongo_env: dict[str, str], document: dict[Any, Any]
) -> None:
    with blocking(MongoService(make_config(mongo_env))) as mongo:
        try:
            result = mongo.insert_one("chaos_documents", document)
        except MongoDataError:
            return
        found = mongo.find_one("chaos_documents", {"_id": result.inserted_id})
        assert found is not None
        mongo.delete_one("chaos_documents", {"_id": result.inserted_id})


async def test_credentials_stay_out_of_errors_reprs_and_every_log_record(
    face: Face, mongo_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url = mongo_url(mongo_env).replace("mongodb://", f"mongodb://alice:{SECRET}@", 1)
    config = MongoConfig(
        url=SecretStr(url),
        database="anyservices_tests",
        password=SecretStr(SECRET),
        username="alice",
        server_selection_timeout_ms=2000,
    )
    service = MongoService(config)
    caplog.set_level(logging.DEBUG)  # the root: ours and PyMongo's (pymongo.*) loggers
    with pytest.raises(MongoAuthenticationError) as caught:
        async with open_face(face, service):
            pytest.fail("the local server has no user alice")
    texts = [str(caught.value), repr(caught.value), repr(config), str(config), repr(service)]
    texts += [str(caught.value.__cause__)]
    texts += [record.getMessage() for record in caplog.records]
    assert any(record.name.startswith("pymongo") for record in caplog.records)
    assert not [text for text in texts if SECRET in text]
