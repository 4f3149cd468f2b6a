"""The shared JSON and model codec (no network)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyservices._core._errors import DataError
from anyservices._core._models import adapter_for, dump_json, load_json, load_model


class ToyDataError(DataError):
    service_name = "toy"


class User(pydantic.BaseModel):
    name: str
    age: int

    @pydantic.field_validator("name")
    @classmethod
    def _no_admin(cls, value: str) -> str:
        if value == "admin":
            raise ValueError(f"{value} is reserved")  # quotes the input on purpose
        return value


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_dump_plain_data_models_and_dataclasses() -> None:
    assert dump_json({"a": [1, 2.5, None, True]}, error=ToyDataError, resource="k") == (
        '{"a":[1,2.5,null,true]}'
    )
    assert dump_json(User(name="ann", age=3), error=ToyDataError, resource=None) == (
        '{"name":"ann","age":3}'
    )
    assert dump_json([Point(1, 2)], error=ToyDataError, resource=None) == '[{"x":1,"y":2}]'


def test_dump_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(ToyDataError, match="cannot encode as JSON") as raised:
        dump_json({"x": object()}, error=ToyDataError, resource="k")
    assert raised.value.service == "toy"
    assert raised.value.resource == "k"


def test_load_model_from_text_bytes_and_mappings() -> None:
    expected = User(name="ann", age=3)
    for data in ('{"name":"ann","age":3}', b'{"name":"ann","age":3}', {"name": "ann", "age": 3}):
        assert load_model(User, data, error=ToyDataError, resource=None) == expected
    assert load_model(Point, '{"x":1,"y":2}', error=ToyDataError, resource=None) == Point(1, 2)


def test_load_model_names_the_field_never_the_value() -> None:
    with pytest.raises(ToyDataError) as raised:
        load_model(User, {"name": "ann", "age": "s3cr3t-value"}, error=ToyDataError, resource="u:1")
    message = str(raised.value)
    assert "age" in message
    assert "User" in message
    assert "s3cr3t-value" not in message
    assert raised.value.resource == "u:1"


def test_authored_messages_are_not_repeated() -> None:
    with pytest.raises(ToyDataError) as raised:
        load_model(User, {"name": "admin", "age": 1}, error=ToyDataError, resource=None)
    assert "name: invalid value" in str(raised.value)
    assert "admin" not in str(raised.value)


def test_bad_json_is_a_data_error() -> None:
    with pytest.raises(ToyDataError, match=r"\(root\)"):
        load_model(User, "{not json", error=ToyDataError, resource=None)
    with pytest.raises(ToyDataError, match="not JSON"):
        load_json(b"\xff", error=ToyDataError, resource=None)


def test_load_json() -> None:
    assert load_json('{"a":[1,"b"]}', error=ToyDataError, resource=None) == {"a": [1, "b"]}


def test_adapters_are_cached_unless_unhashable() -> None:
    assert adapter_for(User) is adapter_for(User)
    unhashable: Any = Annotated[int, {"unhashable": "metadata"}]
    assert adapter_for(unhashable).validate_python(3) == 3


@given(st.text(min_size=1).map(lambda s: f"Z{s}Q"))
def test_no_secret_reaches_the_message(secret: str) -> None:
    with pytest.raises(ToyDataError) as raised:
        load_model(User, {"name": secret, "age": secret}, error=ToyDataError, resource=None)
    assert secret not in str(raised.value)
