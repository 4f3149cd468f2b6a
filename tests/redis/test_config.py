from __future__ import annotations

import logging

import pydantic
import pytest
from pydantic import SecretStr

from anyservices.redis import RedisConfig, RedisService


def test_url_sets_the_fields() -> None:
    config = RedisConfig(url=SecretStr("rediss://alice:s3cr%40t@cache.example:6380/2"))
    assert (config.host, config.port, config.db, config.tls) == ("cache.example", 6380, 2, True)
    assert config.username == "alice"
    assert config.password is not None
    assert config.password.get_secret_value() == "s3cr@t"
    assert config.describe() == "rediss://cache.example:6380/2"


def test_unix_url() -> None:
    config = RedisConfig(url=SecretStr("unix:///run/redis.sock"))
    assert config.unix_socket_path == "/run/redis.sock"
    assert config.describe() == "unix:///run/redis.sock"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://x", "scheme"),
        ("redis://h:99999/0", "port"),
        ("redis://h:1/zero", "database"),
    ],
)
def test_bad_url_names_the_field(url: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message) as info:
        RedisConfig(url=SecretStr(url))
    assert "url" in str(info.value)


def test_bad_port_names_the_field() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        RedisConfig(port=0)
    assert info.value.errors()[0]["loc"] == ("port",)


def test_password_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    config = RedisConfig(url=SecretStr("redis://:hunter2@h:1/0"))
    service = RedisService(config)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("anyservices.redis").debug("%r %r %s", config, service, config)
    for text in (repr(config), str(config), repr(service), caplog.text):
        assert "hunter2" not in text


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_REDIS_URL", "redis://127.0.0.1:6390/3")
    monkeypatch.setenv("ANYSERVICES_REDIS_NAMESPACE", "app")
    config = RedisConfig.from_env()
    assert (config.port, config.db, config.namespace) == (6390, 3, "app")
