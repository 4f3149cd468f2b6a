"""The top-level names of the public contract, and that services load lazily."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys

import pytest

import anyservices
from anyservices._core._blocking import blocking
from anyservices._core._errors import AnyServicesError
from anyservices._core._public import mark_public

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
    "QueueService": "anyservices.queue",
    "QueueConfig": "anyservices.queue",
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


PACKAGES = (
    "anyservices",
    "anyservices.redis",
    "anyservices.mongo",
    "anyservices.minio",
    "anyservices.http",
)


@pytest.mark.parametrize("package", PACKAGES)
def test_public_objects_name_the_package_users_import_from(package: str) -> None:
    module = importlib.import_module(package)
    marked = 0
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, type) or inspect.isfunction(value):
            # Defined in a private module below the package: says the package. Re-exported
            # from elsewhere (a lazy service, a _core class): keeps what its owner says.
            assert value.__module__ == package or not value.__module__.startswith(f"{package}._")
            marked += value.__module__ == package
    assert marked >= 3


def test_mark_public_leaves_public_modules_aliases_and_foreign_objects() -> None:
    def private() -> None: ...

    class Public: ...

    class Elsewhere: ...

    private.__module__ = "pkg._impl._deep"
    Public.__module__ = "pkg.sub"
    Elsewhere.__module__ = "other._impl"
    alias = list[int]
    namespace = {"private": private, "Public": Public, "Elsewhere": Elsewhere, "alias": alias}
    mark_public("pkg", namespace, [*namespace, "lazy"])  # "lazy" is not bound yet
    assert private.__module__ == "pkg"
    assert Public.__module__ == "pkg.sub"
    assert Elsewhere.__module__ == "other._impl"
