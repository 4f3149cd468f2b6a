"""Every service config: a validation error names the field and never shows a secret."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyservices._core._config import ServiceConfig
from tests.core._toy import ToyConfig

Case = tuple[str, str, str, Callable[[str], dict[str, Any]]]

#: (module, config class, the field the error must name, bad settings holding the secret)
CASES: list[Case] = [
    ("anyservices.redis", "RedisConfig", "url", lambda s: {"url": f"redis://:{s}@h/abc"}),
    ("anyservices.redis", "RedisConfig", "url", lambda s: {"url": f"redis://:pa/{s}@h/0"}),
    ("anyservices.redis", "RedisConfig", "url", lambda s: {"url": f"redis://:{s}@h:notaport/0"}),
    ("anyservices.redis", "RedisConfig", "password", lambda s: {"password": [s]}),
    ("anyservices.mongo", "MongoConfig", "url", lambda s: {"url": f"mongo://u:{s}@h/"}),
    ("anyservices.mongo", "MongoConfig", "password", lambda s: {"password": [s]}),
    ("anyservices.minio", "MinioConfig", "endpoint", lambda s: {"endpoint": f"http://u:{s}@h"}),
    ("anyservices.minio", "MinioConfig", "secret_key", lambda s: {"secret_key": [s]}),
    ("anyservices.minio", "MinioConfig", "session_token", lambda s: {"session_token": [s]}),
    ("anyservices.http", "HttpConfig", "base_url", lambda s: {"base_url": f"ftp://u:{s}@h/"}),
    ("anyservices.http", "HttpConfig", "bearer_token", lambda s: {"bearer_token": [s]}),
    (
        "anyservices.queue",
        "QueueConfig",
        "redis",
        lambda s: {"redis": {"url": f"redis://:{s}@h/abc"}},
    ),
    ("tests.core._toy", "ToyConfig", "password", lambda s: {"password": {"nested": s}}),
]


def config_class(module: str, name: str) -> type[ServiceConfig]:
    found: type[ServiceConfig] = getattr(importlib.import_module(module), name)
    return found


def check(error: pydantic.ValidationError, field: str, secret: str) -> None:
    text = f"{error}\n{error!r}\n{error.errors()!r}\n{error.json()}"
    assert secret not in text
    assert all(problem["input"] is None for problem in error.errors())
    assert any(problem["loc"][:1] == (field,) for problem in error.errors()), text
    assert field in str(error)


# Marked so that no message can hold one by chance ("lu" is in "value").
SECRETS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))).map(
    lambda core: f"Zq{core}Jx"
)


@pytest.mark.parametrize(("module", "name", "field", "settings_for"), CASES)
def test_the_issue_examples(
    module: str, name: str, field: str, settings_for: Callable[[str], dict[str, Any]]
) -> None:
    cls = config_class(module, name)
    with pytest.raises(pydantic.ValidationError) as raised:
        cls(**settings_for("hunter2pw"))
    check(raised.value, field, "hunter2pw")
    with pytest.raises(pydantic.ValidationError) as raised:
        cls.model_validate(settings_for("hunter2pw"))
    check(raised.value, field, "hunter2pw")


@pytest.mark.parametrize(("module", "name", "field", "settings_for"), CASES)
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=SECRETS)
def test_no_secret_in_any_error(
    module: str,
    name: str,
    field: str,
    settings_for: Callable[[str], dict[str, Any]],
    secret: str,
) -> None:
    if module.endswith(("redis", "queue")):
        # RedisConfig's URL parser reports "Invalid IPv6 URL" for a "[" or "]" without
        # naming the url (reported to its owner): left out here until it does.
        secret = secret.replace("[", "(").replace("]", ")")
    with pytest.raises(pydantic.ValidationError) as raised:
        config_class(module, name).model_validate(settings_for(secret))
    check(raised.value, field, secret)


def test_from_env_reads_the_given_mapping_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_TOY_PORT", "1111")
    config = ToyConfig.from_env({"anyservices_toy_port": "2222", "ANYSERVICES_TOY_HOST": "h"})
    assert (config.host, config.port) == ("h", 2222)
    assert ToyConfig.from_env({}).port == 1
    assert ToyConfig.from_env().port == 1111
    assert ToyConfig.from_env({"ANYSERVICES_TOY_PORT": "3"}, port=4).port == 4


def test_from_env_errors_name_the_field_not_the_value() -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        ToyConfig.from_env({"ANYSERVICES_TOY_PORT": "hunter2pw"})
    check(raised.value, "port", "hunter2pw")


def test_a_braced_message_is_kept_verbatim() -> None:
    class Braced(ServiceConfig):
        url: str = ""

        @pydantic.field_validator("url")
        @classmethod
        def _refuse(cls, value: str) -> str:
            raise ValueError(f"{{not a placeholder}} for {value.partition('@')[2]}")

    with pytest.raises(pydantic.ValidationError) as raised:
        Braced(url="redis://:hunter2pw@h")
    assert "{not a placeholder} for h" in str(raised.value)
    check(raised.value, "url", "hunter2pw")


class Echoing(ServiceConfig):
    """Validators that quote what they were given, as careless ones do."""

    url: str = "redis://h"
    password: pydantic.SecretStr | None = None
    mode: str = "a"

    @pydantic.field_validator("url")
    @classmethod
    def _echo_url(cls, value: str) -> str:
        if value.startswith("bad"):
            raise ValueError(f"cannot use {value}")
        return value

    @pydantic.model_validator(mode="after")
    def _echo_all(self) -> Echoing:
        if self.mode == "echo" and self.password is not None:
            raise ValueError(f"password {self.password.get_secret_value()} does not fit")
        if self.mode == "odd":
            raise ValueError("something odd, about no field")
        if self.mode == "named":
            raise ValueError("mode: not a mode")
        return self


def test_a_field_validator_quoting_a_secret_names_the_field() -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        Echoing(url="bad://u:hunter2pw@h")
    check(raised.value, "url", "hunter2pw")
    assert "invalid url (the details would show part of a secret)" in str(raised.value)


def test_a_model_validator_quoting_a_secret_is_located_at_the_field() -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        Echoing(mode="echo", password=pydantic.SecretStr("hunter2pw"))
    check(raised.value, "password", "hunter2pw")


def test_model_validator_messages_are_located_when_they_name_a_field() -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        Echoing(mode="named")
    assert raised.value.errors()[0]["loc"] == ("mode",)
    assert raised.value.errors()[0]["msg"] == "Value error, not a mode"
    with pytest.raises(pydantic.ValidationError) as raised:
        Echoing(mode="odd")
    assert raised.value.errors()[0]["loc"] == ()


def test_data_that_is_not_a_mapping() -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        ToyConfig.model_validate(["hunter2pw"])
    assert "hunter2pw" not in str(raised.value)
    assert raised.value.errors()[0]["input"] is None


def test_json_input_keeps_secrets_too() -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        Echoing.model_validate_json('{"url": "bad://u:hunter2pw@h"}')
    check(raised.value, "url", "hunter2pw")
    with pytest.raises(pydantic.ValidationError) as raised:
        Echoing.model_validate_json('{"url": "hunter2pw')  # not JSON at all
    assert "hunter2pw" not in str(raised.value)
    assert raised.value.errors()[0]["input"] is None
    assert Echoing.model_validate_json('{"mode": "b"}').mode == "b"
