from __future__ import annotations

import logging

import pydantic
import pytest
from pydantic import SecretStr

from ._toy import ToyConfig, ToyService


def test_bad_value_names_the_field() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        ToyConfig.model_validate({"port": "not-a-port"})
    assert info.value.errors()[0]["loc"] == ("port",)


def test_unknown_field_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="prot"):
        ToyConfig(prot=1)  # type: ignore[call-arg]


def test_frozen() -> None:
    config = ToyConfig()
    with pytest.raises(pydantic.ValidationError):
        config.port = 2  # type: ignore[misc]


def test_from_env_reads_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_TOY_PORT", "6390")
    monkeypatch.setenv("ANYSERVICES_TOY_PASSWORD", "hunter2")
    monkeypatch.setenv("ANYSERVICES_OTHER_PORT", "1")
    config = ToyConfig.from_env(host="10.0.0.1")
    assert type(config) is ToyConfig
    assert config.port == 6390
    assert config.host == "10.0.0.1"
    assert config.password is not None
    assert config.password.get_secret_value() == "hunter2"


def test_from_env_bad_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_TOY_PORT", "sixty")
    with pytest.raises(pydantic.ValidationError) as info:
        ToyConfig.from_env()
    assert info.value.errors()[0]["loc"] == ("port",)


def test_secret_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    config = ToyConfig(password=SecretStr("hunter2"))
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config)
    assert "hunter2" not in config.model_dump_json()
    service = ToyService(config)
    assert "hunter2" not in repr(service)
    with caplog.at_level(logging.DEBUG, logger="anyservices"):
        logging.getLogger("anyservices.toy").info("config %r service %r", config, service)
    assert caplog.records
    assert "hunter2" not in caplog.text
