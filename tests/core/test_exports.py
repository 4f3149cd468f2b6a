"""The top-level names of the public contract, and that services load lazily."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import anyservices
from anyservices._core._blocking import blocking
from anyservices._core._errors import AnyServicesError

# name -> (module that defines the public class, the name there)
SERVICES = {
    "RedisService": "anyservices.redis",
    "RedisConfig": "anyservices.redis",
    "MongoService": "anyservices.mongo",
    "MongoConfig": "anyservices.mongo",
    "MinioService": "anyservices.minio",
    "MinioConfig": "anyservices.minio",
    "HttpService": "anyservices.http",
    "HttpConfig": "anyservices.http",
}
DRIVERS = ("pymongo", "minio", "httpx")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_names_resolve_to_their_classes(name: str) -> None:
    expected = getattr(importlib.import_module(SERVICES[name]), name)
    assert isinstance(expected, type)
    assert getattr(anyservices, name) is expected
    assert name in anyservices.__all__


def test_contract_names_are_listed_and_importable() -> None:
    contract = {*SERVICES, "blocking", "AnyServicesError"}
    assert contract <= set(anyservices.__all__)
    assert contract <= set(dir(anyservices))
    for name in anyservices.__all__:
        assert getattr(anyservices, name) is not None
    assert anyservices.blocking is blocking
    assert anyservices.AnyServicesError is AnyServicesError


def test_all_is_sorted_tuple_without_duplicates() -> None:
    assert isinstance(anyservices.__all__, tuple)
    assert len(set(anyservices.__all__)) == len(anyservices.__all__)
    assert list(anyservices.__all__) == sorted(anyservices.__all__)


def test_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = anyservices.no_such_name
    assert not hasattr(anyservices, "MongoCollection")  # not a top-level name


def test_import_alone_loads_no_driver() -> None:
    # A fresh interpreter: this process has long imported the drivers through other tests.
    code = (
        "import json, sys\n"
        "import anyservices\n"
        f"drivers = {list(DRIVERS)!r}\n"
        "before = [m for m in drivers if m in sys.modules]\n"
        "anyservices.MongoService, anyservices.MinioService, anyservices.HttpService\n"
        "after = [m for m in drivers if m in sys.modules]\n"
        "print(json.dumps([before, after]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    before, after = json.loads(result.stdout)
    assert before == []
    assert after == list(DRIVERS)  # the check would see them if they were loaded


def test_star_import_gives_the_services() -> None:
    namespace: dict[str, object] = {}
    exec("from anyservices import *", namespace)  # noqa: S102 - a fixed literal, to test __all__
    for name in SERVICES:
        assert namespace[name] is getattr(anyservices, name)
