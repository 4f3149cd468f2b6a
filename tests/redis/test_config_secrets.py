"""No part of a password reaches a RedisConfig error or repr, whatever the URL's shape."""

from __future__ import annotations

from urllib.parse import quote

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from anyservices.redis import RedisConfig

# Letters that appear in no message or repr of ours, so that any window of three
# characters holding one of them and found in the output is a leak, not a coincidence;
# and the characters that end or split a URL's parts.
_LETTERS = "αβγδεζηθλμξπστφχψωQXZJ"  # noqa: RUF001 -- Greek on purpose: in no message
_PASSWORDS = st.text(alphabet=_LETTERS + "/?#@:%&=+; ", min_size=3, max_size=24).filter(
    lambda pw: any(ch in _LETTERS for ch in pw)
)
_SHAPES = [
    "redis://:{raw}@h.example/0",  # unescaped: may cut the host part short
    "redis://:{quoted}@h.example:6380/2",
    "rediss://alice:{quoted}@h.example/0",
    "redis://alice:{raw}@h.example:6380/1",
    "redis://:{quoted}@h.example/abc",  # bad database
    "redis://:{raw}@h.example/abc",
    "redis://:{quoted}@h.example:port/0",  # bad port
    "redis://:{quoted}@h.example:99999/0",
    "redis://:{quoted}@h.example:0/0",
    "redis://:{raw}@h.example:port/0",
    "http://:{raw}@h.example/0",  # bad scheme
    "redis://:{quoted}@[::1/0",  # bad IPv6 host
    "redis://:pa/{raw}@h.example/0",  # a '/' in the password, unescaped
    "unix://:{quoted}@/run/redis.sock",
]


def _leaks(password: str, text: str) -> list[str]:
    windows = {password[i : i + 3] for i in range(len(password) - 2)}
    quoted = quote(password, safe="")
    # The percent-encoded letters (%CE%B1...): no message of ours holds "%C".
    windows |= {quoted[i : i + 3] for i in range(len(quoted) - 2) if quoted[i : i + 2] == "%C"}
    return sorted(w for w in windows if any(ch in _LETTERS or ch == "%" for ch in w) and w in text)


@given(password=_PASSWORDS, shape=st.sampled_from(_SHAPES), as_secret=st.booleans())
def test_no_part_of_the_password_is_shown(password: str, shape: str, as_secret: bool) -> None:
    url = shape.format(raw=password, quoted=quote(password, safe=""))
    locations: list[tuple[int | str, ...]] = []
    try:
        config = (
            RedisConfig(url=SecretStr(url))
            if as_secret
            else RedisConfig.model_validate({"url": url})
        )
    except pydantic.ValidationError as exc:
        texts = [str(exc), repr(exc), exc.json(), repr(exc.errors())]
        locations = [error["loc"] for error in exc.errors()]
    else:
        texts = [repr(config), str(config), config.describe(), repr(config.model_dump())]
    assert set(locations) <= {("url",)}  # an error names the field
    for text in texts:
        assert not _leaks(password, text), text


@given(password=_PASSWORDS)
def test_a_bad_field_beside_a_password_shows_none_of_it(password: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        RedisConfig(password=SecretStr(password), port=0)
    assert not _leaks(password, str(caught.value))
    config = RedisConfig.model_validate({"password": password})
    assert not _leaks(password, repr(config))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://:hunter2pw@h/abc", "the database"),
        ("redis://:pa/hunter2pw@h/0", "percent-encode"),
        ("redis://:hunter2pw@h:xx/0", "the port"),
        ("redis://:hunter2pw@h:0/0", "the port"),
        ("redis://:hunter2pw@[::1/0", "not a valid URL"),
    ],
)
def test_issue_10_reproductions(url: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message) as caught:
        RedisConfig(url=SecretStr(url))
    for text in (str(caught.value), repr(caught.value), caught.value.json()):
        assert "hun" not in text
        assert "pa/" not in text


def test_a_url_may_leave_out_the_host_and_the_database() -> None:
    config = RedisConfig(url=SecretStr("redis://:6380"))
    assert (config.host, config.port, config.db) == ("127.0.0.1", 6380, 0)
    assert RedisConfig(url=SecretStr("redis://cache.example")).db == 0
