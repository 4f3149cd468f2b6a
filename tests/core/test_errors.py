from __future__ import annotations

import pickle

import pytest

import anyservices
from anyservices._core import _errors


def test_every_error_is_an_anyservices_error() -> None:
    for name in _errors.__all__:
        assert issubclass(getattr(_errors, name), anyservices.AnyServicesError)


def test_tree_is_documented() -> None:
    doc = _errors.__doc__ or ""
    for name in _errors.__all__:
        assert name in doc


def test_context_in_message_and_pickle() -> None:
    error = _errors.NotFoundError("no such key", service="redis", operation="GET", resource="k")
    assert str(error) == "no such key (service='redis', operation='GET', resource='k')"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is _errors.NotFoundError
    assert (copy.service, copy.operation, copy.resource) == ("redis", "GET", "k")
    assert str(_errors.CommandError("plain")) == "plain"


def test_timeout_is_also_builtin_timeout() -> None:
    with pytest.raises(TimeoutError):
        raise _errors.ServiceTimeoutError("slow", service="redis")
