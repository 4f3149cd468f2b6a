"""examples/django_app against the local Redis and Mongo, on both portal backends.

Django's test client drives the sync views in process; the portal the services were
opened on at start serves every request (no per-request portal). A WSGI smoke test
runs the example under ``manage.py runserver`` in a subprocess on each backend.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import django
import pytest
from django.apps import apps
from django.test import Client
from example_support import free_port, get_when_serving, running
from examples.django_app.services import Services, services
from examples.django_app.views import HELLO_LIMIT

import anyservices
from anyservices import MongoConfig, MongoService
from anyservices._core import _blocking
from anyservices._core._portal import Backend, Portal, _registry, acquire_portal

ADA = {"email": "ada@example.com", "name": "Ada"}
SETTINGS = "examples.django_app.settings"


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> Literal["asyncio", "trio"]:
    chosen: Literal["asyncio", "trio"] = request.param
    return chosen


@pytest.fixture
def app_env(
    redis_env: dict[str, str],
    mongo_env: dict[str, str],
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """The servers' variables, a namespace and database of this test's own, the portal backend."""
    unique = uuid.uuid4().hex[:12]
    env = {
        **redis_env,
        **mongo_env,
        "ANYSERVICES_REDIS_NAMESPACE": f"example-{unique}",
        "ANYSERVICES_MONGO_DATABASE": f"example_{unique}",
        "ANYSERVICES_BACKEND": backend,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def opened(app_env: dict[str, str]) -> Iterator[Services]:
    """The example's services as Django opens them (``ExampleConfig.ready``), closed after."""
    if apps.ready:
        services.open()  # Django started in an earlier test: this test's namespace and backend
    else:
        django.setup()  # ready() opens them
    try:
        yield services
    finally:
        services.close()


def test_django_views_share_one_portal(
    opened: Services, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal = opened.redis.portal
    assert portal.backend == backend
    assert opened.mongo.portal is portal
    users = _registry._portals[backend]
    assert users[0] is portal
    assert users[1] >= 2  # at least the two faces opened at start
    acquired: list[Backend] = []
    monkeypatch.setattr(_blocking, "acquire_portal", spy(acquire_portal, acquired))

    client = Client()
    created = client.post("/users", ADA, content_type="application/json")
    assert created.status_code == 201, created.content
    assert client.post("/users", ADA, content_type="application/json").status_code == 409
    invalid = client.post("/users", {"email": "x@example.com"}, content_type="application/json")
    assert invalid.status_code == 400
    assert invalid.json()[0]["loc"] == ["name"]
    assert client.get("/users/ada@example.com").json() == ADA
    # The next read comes from Redis: the document is gone from Mongo behind the app's back.
    assert opened.mongo.delete_one("users", {"email": "ada@example.com"}).deleted_count == 1
    assert client.get("/users/ada@example.com").json() == ADA
    assert client.get("/users/nobody@example.com").status_code == 404
    remaining = [client.get("/hello").json()["remaining"] for _ in range(HELLO_LIMIT)]
    assert remaining == list(range(HELLO_LIMIT - 1, -1, -1))
    denied = client.get("/hello")
    assert denied.status_code == 429
    assert denied["Retry-After"] == "60"
    for _ in range(20 - 6 - HELLO_LIMIT - 1):  # 20 requests in all
        assert client.get("/users/ada@example.com").status_code == 200

    # 20 requests later: no portal was acquired, the one opened at start still serves.
    assert acquired == []
    assert _registry._portals[backend] == users
    assert opened.redis.portal is portal


def test_django_threads_share_the_faces(
    opened: Services, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As under a threaded WSGI server: 8 threads at once on the same faces and portal.

    The cache is cold, so all 40 requests want the same user at once: the plain compute
    runs in ONE request thread (single-flight), the others wait for its value.
    """
    opened.mongo.insert_one("users", dict(ADA))
    lookups: list[str] = []
    find_one = opened.mongo.find_one

    def counted(collection: str, query: dict[str, Any], projection: dict[str, Any]) -> Any:
        lookups.append(threading.current_thread().name)
        return find_one(collection, query, projection)

    monkeypatch.setattr(opened.mongo, "find_one", counted)
    start = threading.Barrier(8)

    def fetch(_: int) -> object:
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait(timeout=5)  # the first 8 requests start together
        return Client().get("/users/ada@example.com").json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(fetch, range(40)))
    assert answers == [ADA] * 40
    assert len(lookups) == 1
    assert lookups[0].startswith("ThreadPoolExecutor")  # the compute ran in a request thread
    assert _registry._portals[backend][0] is opened.redis.portal


def test_django_services_close_the_portal(opened: Services, backend: str) -> None:
    assert backend in _registry._portals
    opened.close()
    assert backend not in _registry._portals  # the last face out stopped the portal
    opened.close()  # closing twice is harmless (the fixture closes again)


def spy(func: Callable[[Backend], Portal], calls: list[Backend]) -> Callable[[Backend], Portal]:
    def record(backend: Backend) -> Portal:
        calls.append(backend)
        return func(backend)

    return record


def test_django_runserver_smoke(app_env: dict[str, str]) -> None:
    """The example under Django's own WSGI server: one request answers, on each backend."""
    with anyservices.blocking(MongoService(MongoConfig.from_env())) as mongo:
        mongo.insert_one("users", dict(ADA))
    port = free_port()
    command = [sys.executable, "-m", "django", "runserver", "--noreload", f"127.0.0.1:{port}"]
    with running(command, app_env) as server:
        answer = get_when_serving(server, f"http://127.0.0.1:{port}/users/ada@example.com")
        assert answer.status_code == 200
        assert answer.json() == ADA
