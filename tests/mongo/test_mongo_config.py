from __future__ import annotations

import pydantic
import pytest
from pydantic import SecretStr

from anyservices._core._secrets import mask_url
from anyservices.mongo import MongoConfig


def test_defaults_and_client_options() -> None:
    config = MongoConfig(
        url=SecretStr("mongodb://h:1"), database="app", timeout_ms=250, auth_source="admin"
    )
    options = config.client_options()
    assert options["authSource"] == "admin"
    assert options["maxPoolSize"] == 32
    assert options["timeoutMS"] == 250
    assert options["retryWrites"] is True
    assert "password" not in options


def test_credentials_go_to_the_client_but_never_to_repr() -> None:
    config = MongoConfig(
        url=SecretStr("mongodb://alice:s3cret-pw@db.example:27017/?replicaSet=rs"),
        username="bob",
        password=SecretStr("other-s3cret"),
    )
    assert config.client_options()["password"] == "other-s3cret"
    text = repr(config) + str(config)
    assert "s3cret-pw" not in text
    assert "other-s3cret" not in text
    assert "mongodb://***@db.example:27017/?replicaSet=rs" in text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", SecretStr("http://example.com")),
        ("max_pool_size", 0),
        ("min_pool_size", -1),
        ("server_selection_timeout_ms", 0),
        ("timeout_ms", -5),
        ("database", ""),
    ],
)
def test_bad_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(pydantic.ValidationError, match=field):
        MongoConfig.model_validate({field: value})


def test_min_pool_above_max_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="min_pool_size"):
        MongoConfig(max_pool_size=2, min_pool_size=3)


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_MONGO_URL", "mongodb://u:pw-env@h:2/")
    monkeypatch.setenv("ANYSERVICES_MONGO_DATABASE", "envdb")
    monkeypatch.setenv("ANYSERVICES_MONGO_MAX_POOL_SIZE", "7")
    config = MongoConfig.from_env()
    assert config.database == "envdb"
    assert config.max_pool_size == 7
    assert config.url.get_secret_value() == "mongodb://u:pw-env@h:2/"
    assert "pw-env" not in repr(config)


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("mongodb://h:1/db", "mongodb://h:1/db"),
        ("mongodb://u:p@h1:1,h2:2/db?x=1", "mongodb://***@h1:1,h2:2/db?x=1"),
        ("mongodb+srv://u:p@cluster.example", "mongodb+srv://***@cluster.example"),
        (
            "mongodb://h/db?tls=true&tlsCertificateKeyFilePassword=pw&authMechanismProperties=AWS_SESSION_TOKEN:t",
            "mongodb://h/db?tls=true&tlsCertificateKeyFilePassword=***&authMechanismProperties=***",
        ),
    ],
)
def test_safe_url(url: str, safe: str) -> None:
    assert mask_url(url) == safe


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mongodb://u:hunter2pw@127.0.0.1:notaport/", "Port contains non-digit characters"),
        ("mongodb://u:hunter2pw@h:99999/", "between 0 and 65535"),
        ("mongodb+srv://u:hunter2pw@cluster.example:27017/", "invalid url"),  # quotes the scheme
        ("mongodb://u:hunter2pw:x@h/", "must be escaped"),
        ("mongodb://u:hunter2pw@h/?nosuchoption=1", "Unknown option"),
        ("mongodb://u:hunter2pw@/", "Empty host"),
        ("redis://u:hunter2pw@h/", "mongodb://"),
    ],
)
def test_a_bad_url_is_refused_naming_url_never_the_password(url: str, reason: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        MongoConfig(url=SecretStr(url))
    text = str(caught.value)
    assert caught.value.errors()[0]["loc"] == ("url",)
    assert reason in text
    assert "hunter2pw" not in text
    assert "hunter2pw" not in repr(caught.value.errors())


def test_a_driver_message_quoting_the_credentials_is_replaced() -> None:
    # A user name that is a word of the driver's message: the message is not shown.
    with pytest.raises(pydantic.ValidationError) as caught:
        MongoConfig(url=SecretStr("mongodb://Port:x@h:notaport/"))
    assert "invalid url (the details would show part of a secret)" in str(caught.value)
