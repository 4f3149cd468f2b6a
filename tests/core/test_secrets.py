"""``mask_url``: what of a URL may be shown (no network)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyservices._core._secrets import MASK, is_secret_name, mask_query, mask_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:hunter2pw@h:6379/0", "redis://***@h:6379/0"),
        ("redis://:pa/hunter2pw@h/0", "redis://***@h/0"),  # a "/" in the password
        ("mongodb://u:p@w@h1,h2/db?replicaSet=rs", "mongodb://***@h1,h2/db?replicaSet=rs"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("http://h/p?token=abc&page=2", "http://h/p?token=***&page=2"),
        ("mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN:x;w=1", None),
        ("http://h/?x=1#frag", "http://h/?x=1#frag"),
        ("http://h/?Password=1#frag", "http://h/?Password=***#frag"),
        ("user:pw@host", "***@host"),
        ("", ""),
        ("?", "?"),
        ("://@?=&;#", "://***@?=&;#"),
    ],
)
def test_examples(url: str, masked: str | None) -> None:
    if masked is None:
        assert mask_url(url) == "mongodb://h/?authMechanismProperties=***;w=1"
    else:
        assert mask_url(url) == masked


def test_garbage_that_is_not_a_string() -> None:
    assert mask_url(b"redis://:pw@h") == MASK
    assert mask_url(None) == MASK


@pytest.mark.parametrize("name", ["password", "X-Api-Key", "access_token", "Cookie", "pwd"])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["page", "replicaSet", "db", "w"])
def test_plain_names(name: str) -> None:
    assert not is_secret_name(name)


_HOST = st.from_regex(r"[a-z][a-z0-9.\-]{0,20}(:[0-9]{1,5})?", fullmatch=True)
_TAIL = st.from_regex(
    r"(/[a-z0-9/]{0,10})?(\?[a-z]{1,5}=[a-z0-9]{0,5}(&[a-z]{1,5}=[a-z0-9]{0,5})*)?", fullmatch=True
)
# A password is marked by characters that no host or tail above can contain.
_PASSWORD = st.text(max_size=30).map(lambda core: f"Z{core}Q")


@given(
    scheme=st.sampled_from(["redis", "rediss", "mongodb", "mongodb+srv", "http", "https", "s3"]),
    user=st.text(alphabet="abcdefghijklmnop_", max_size=8),
    password=_PASSWORD,
    host=_HOST,
    tail=_TAIL,
)
def test_the_password_never_shows(
    scheme: str, user: str, password: str, host: str, tail: str
) -> None:
    masked = mask_url(f"{scheme}://{user}:{password}@{host}{tail}")
    assert password not in masked
    assert masked.startswith(f"{scheme}://{MASK}@")


@given(
    name=st.sampled_from(["password", "token", "secret", "authMechanismProperties", "sig"]),
    value=st.text(alphabet=st.characters(blacklist_characters="&;#@"), min_size=1).map(
        lambda v: f"Z{v}Q"
    ),
    host=_HOST,
)
def test_secret_query_values_never_show(name: str, value: str, host: str) -> None:
    masked = mask_url(f"mongodb://{host}/db?w=1&{name}={value}")
    assert value not in masked
    assert masked.endswith(f"&{name}={MASK}")


@given(st.text())
def test_garbage_never_raises(text: str) -> None:
    assert isinstance(mask_url(text), str)


def test_mask_query_for_parsed_urls() -> None:
    assert mask_query("a=1&token=x;sig=y&b") == f"a=1&token={MASK};sig={MASK}&b"
    assert mask_query("") == ""
