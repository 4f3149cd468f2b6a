"""examples/fastapi_app against the local Redis and Mongo: in process and as a real server.

In process, the app runs under ``asgi_lifespan.LifespanManager`` with
``httpx.ASGITransport`` on asyncio and on trio. As a server, it runs under uvicorn
(asyncio) and hypercorn's trio worker; SIGTERM must run the lifespan's shutdown (the
key it writes) and end the process cleanly.
"""

from __future__ import annotations

import signal
import sys
import uuid

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from example_support import free_port, get_when_serving, running
from examples.fastapi_app.app import HELLO_LIMIT, app

import anyservices
from anyservices import MongoConfig, MongoService, RedisConfig, RedisService

ADA = {"email": "ada@example.com", "name": "Ada"}


@pytest.fixture
def app_env(
    redis_env: dict[str, str], mongo_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The servers' variables, with a Redis namespace and a Mongo database of this test's own."""
    unique = uuid.uuid4().hex[:12]
    env = {
        **redis_env,
        **mongo_env,
        "ANYSERVICES_REDIS_NAMESPACE": f"example-{unique}",
        "ANYSERVICES_MONGO_DATABASE": f"example_{unique}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


async def exercise(client: httpx.AsyncClient) -> None:
    """Every endpoint once, with what each must answer."""
    created = await client.post("/users", json=ADA)
    assert created.status_code == 201, created.text
    assert (await client.post("/users", json=ADA)).status_code == 409  # the unique index
    assert (await client.post("/users", json={"email": "x@example.com"})).status_code == 422
    assert (await client.get("/users/ada@example.com")).json() == ADA

    # The next read comes from Redis: the document is gone from Mongo behind the app's back.
    async with MongoService(MongoConfig.from_env()) as mongo:
        deleted = await mongo.delete_one("users", {"email": "ada@example.com"})
        assert deleted.deleted_count == 1
    assert (await client.get("/users/ada@example.com")).json() == ADA
    assert (await client.get("/users/nobody@example.com")).status_code == 404

    remaining = [(await client.get("/hello")).json()["remaining"] for _ in range(HELLO_LIMIT)]
    assert remaining == list(range(HELLO_LIMIT - 1, -1, -1))
    denied = await client.get("/hello")
    assert denied.status_code == 429
    assert denied.headers["Retry-After"] == "60"


async def lifespan_stopped() -> str | None:
    async with RedisService(RedisConfig.from_env()) as redis:
        return await redis.get("lifespan:stopped")


async def test_fastapi_in_process(app_env: dict[str, str], anyio_backend: object) -> None:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            await exercise(client)
        assert await lifespan_stopped() is None  # the shutdown has not run yet
    assert await lifespan_stopped() == "yes"


APP = "examples.fastapi_app.app:app"
SERVERS = {
    "uvicorn-asyncio": ["uvicorn", "--port", "{port}", APP],
    "hypercorn-trio": ["hypercorn", "--worker-class", "trio", "--bind", "127.0.0.1:{port}", APP],
}
# How each ends after a graceful SIGTERM: uvicorn re-raises the signal once it has shut down.
CLEAN_EXIT = {"uvicorn-asyncio": -signal.SIGTERM, "hypercorn-trio": 0}


@pytest.mark.parametrize("server", SERVERS)
def test_fastapi_server(app_env: dict[str, str], server: str) -> None:
    port = free_port()
    command = [sys.executable, "-m", *(arg.format(port=port) for arg in SERVERS[server])]
    base_url = f"http://127.0.0.1:{port}"
    with running(command, app_env) as process:
        assert get_when_serving(process, f"{base_url}/openapi.json").status_code == 200
        with anyservices.blocking(RedisService(RedisConfig.from_env())) as redis:
            assert redis.get("lifespan:stopped") is None
            anyio.run(exercise_server, base_url)
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
            assert process.returncode == CLEAN_EXIT[server], output
            assert redis.get("lifespan:stopped") == "yes", output


async def exercise_server(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        await exercise(client)
