"""HttpService against a real local HTTP server, on asyncio, trio and the sync face."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import anyio
import pydantic
import pytest
from scripted_http_server import Reply, ScriptedServer, generated_bytes

from anyservices import CircuitOpenError, NotFoundError, ServiceClosedError, ServiceTimeoutError
from anyservices.http import (
    BreakerSettings,
    BreakerState,
    HttpAuthenticationError,
    HttpCircuitOpenError,
    HttpConfig,
    HttpConnectError,
    HttpDataError,
    HttpNotFoundError,
    HttpService,
    HttpStatusError,
    HttpTimeoutError,
    RetryPolicy,
)
from anyservices.testing import Face, open_face

FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_max=0.01, deadline=10)


class Item(pydantic.BaseModel):
    id: int
    name: str
    price: float


def service(url: str, **overrides: object) -> HttpService:
    settings: dict[str, object] = {
        "base_url": url,
        "retry": FAST_RETRY,
        "timeout": 5.0,
        "breaker": BreakerSettings(enabled=False),
    }
    settings.update(overrides)
    return HttpService(HttpConfig.model_validate(settings))


def item_body(**fields: object) -> bytes:
    return json.dumps({"id": 1, "name": "pen", "price": 2.5, **fields}).encode()


async def test_verbs_and_json(face: Face, http_server: ScriptedServer) -> None:
    http_server.route("/items/1", Reply(200, item_body(), {"Content-Type": "application/json"}))
    http_server.route("/items", Reply(201, item_body(id=2)))
    async with open_face(face, service(http_server.url, headers={"X-Demo": "yes"})) as http:
        response = await http.get("/items/1", params={"q": "x"})
        assert response.status_code == 200
        assert response.json()["name"] == "pen"
        assert await http.get_json("/items/1") == {"id": 1, "name": "pen", "price": 2.5}
        created = await http.post_json("/items", {"name": "pen"})
        assert created["id"] == 2
        assert http_server.bodies[-1] == b'{"name":"pen"}'
        assert http_server.request_headers[-1]["X-Demo"] == "yes"
        for verb in (http.put, http.patch):
            assert (await verb("/items", json={"a": 1})).status_code == 201
        for other in (http.delete, http.head, http.options):
            assert (await other("/items/1")).status_code == 200


async def test_models(face: Face, http_server: ScriptedServer) -> None:
    http_server.route("/items/1", Reply(200, item_body()))
    http_server.route("/items", Reply(200, b"[" + item_body() + b"," + item_body(id=2) + b"]"))
    http_server.route("/new", Reply(200, item_body(id=3)))
    async with open_face(face, service(http_server.url)) as http:
        assert await http.get_model("/items/1", Item) == Item(id=1, name="pen", price=2.5)
        items = await http.get_models("/items", Item)
        assert [i.id for i in items] == [1, 2]
        made = await http.post_model("/new", Item(id=0, name="x", price=1), Item)
        assert made.id == 3
        assert json.loads(http_server.bodies[-1]) == {"id": 0, "name": "x", "price": 1.0}
        assert (await http.put_model("/new", {"raw": True}, Item)).id == 3
        assert (await http.patch_model("/new", {"raw": True}, Item)).id == 3


async def test_model_error_names_the_field(face: Face, http_server: ScriptedServer) -> None:
    http_server.route("/items/1", Reply(200, item_body(price="cheap")))
    http_server.route("/items", Reply(200, b"[" + item_body() + b"," + item_body(id="x") + b"]"))
    http_server.route("/broken", Reply(200, b"{not json"))
    async with open_face(face, service(http_server.url)) as http:
        with pytest.raises(HttpDataError, match="price") as caught:
            await http.get_model("/items/1", Item)
        assert caught.value.operation == "GET"
        assert caught.value.resource == f"{http_server.url}/items/1"
        with pytest.raises(HttpDataError, match=r"1\.id"):
            await http.get_models("/items", Item)
        with pytest.raises(HttpDataError, match="JSON"):
            await http.get_json("/broken")


async def test_status_errors_carry_status_method_url(
    face: Face, http_server: ScriptedServer
) -> None:
    http_server.route("/secret", Reply(401, b"no"))
    url = http_server.url.replace("http://", "http://user:hunter2@")
    async with open_face(face, service(url)) as http:
        with pytest.raises(HttpNotFoundError) as caught:
            await http.get_json("/missing", params={"api_key": "hunter2", "page": 2})
        error = caught.value
        assert isinstance(error, NotFoundError)
        assert (error.status, error.method) == (404, "GET")
        assert error.url == f"{http_server.url}/missing?api_key=***&page=2"
        assert "hunter2" not in str(error)
        with pytest.raises(HttpAuthenticationError):
            await http.get_model("/secret", Item)
        response = await http.get("/secret")  # plain verbs return the response ...
        assert response.status_code == 401
        with pytest.raises(HttpStatusError):  # ... unless asked
            await http.get("/secret", raise_for_status=True)


async def test_retry_after_seconds_then_success(face: Face, http_server: ScriptedServer) -> None:
    busy = Reply(503, b"busy", {"Retry-After": "0"})
    http_server.route("/flaky", busy, busy, Reply(200, b"ok"))
    async with open_face(face, service(http_server.url)) as http:
        response = await http.get("/flaky")
        assert (response.status_code, response.content) == (200, b"ok")
        assert http_server.hits["/flaky"] == 3
        stats = http.statistics()
        assert (stats.requests, stats.retries) == (3, 2)


async def test_retry_after_http_date(face: Face, http_server: ScriptedServer) -> None:
    past = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    http_server.route("/limited", Reply(429, b"", {"Retry-After": past}), Reply(200, b"ok"))
    async with open_face(face, service(http_server.url)) as http:
        assert (await http.get("/limited")).status_code == 200
        assert http_server.hits["/limited"] == 2


async def test_retry_after_beyond_deadline_is_not_awaited(
    face: Face, http_server: ScriptedServer
) -> None:
    http_server.route("/later", Reply(503, b"", {"Retry-After": "3600"}))
    policy = FAST_RETRY.model_copy(update={"deadline": 2.0})
    async with open_face(face, service(http_server.url, retry=policy)) as http:
        with anyio.fail_after(30):  # a hang here would mean the hour was waited
            response = await http.get("/later")
        assert response.status_code == 503
        assert http_server.hits["/later"] == 1
        with pytest.raises(HttpStatusError) as caught:
            await http.get_json("/later")
        assert caught.value.status == 503


async def test_post_is_not_retried_unless_asked(face: Face, http_server: ScriptedServer) -> None:
    http_server.route("/orders", Reply(503, b"busy", {"Retry-After": "0"}))
    async with open_face(face, service(http_server.url)) as http:
        assert (await http.post("/orders", json={"n": 1})).status_code == 503
        assert http_server.hits["/orders"] == 1
        assert (await http.post("/orders", json={"n": 1}, retry=True)).status_code == 503
        assert http_server.hits["/orders"] == 1 + FAST_RETRY.max_attempts
        assert (await http.get("/orders", retry=False)).status_code == 503
        assert http_server.hits["/orders"] == 2 + FAST_RETRY.max_attempts


async def test_retry_non_idempotent_in_config(face: Face, http_server: ScriptedServer) -> None:
    http_server.route("/orders", Reply(502), Reply(200, b"done"))
    policy = FAST_RETRY.model_copy(update={"retry_non_idempotent": True})
    async with open_face(face, service(http_server.url, retry=policy)) as http:
        assert (await http.post("/orders", content=b"x")).content == b"done"
        assert http_server.hits["/orders"] == 2


async def test_breaker_opens_and_recovers(face: Face, http_server: ScriptedServer) -> None:
    http_server.route("/down", Reply(500, b"boom"))
    breaker = BreakerSettings(failure_threshold=3, cooldown=0.2, half_open_successes=1)
    no_retry = RetryPolicy(max_attempts=1)
    async with open_face(face, service(http_server.url, breaker=breaker, retry=no_retry)) as http:
        for _ in range(3):
            assert (await http.get("/down")).status_code == 500
        assert http.statistics().breaker.state is BreakerState.OPEN
        with pytest.raises(HttpCircuitOpenError) as caught:
            await http.get("/down")
        assert isinstance(caught.value, CircuitOpenError)
        assert http_server.hits["/down"] == 3  # refused without sending
        stats = http.statistics().breaker
        assert (stats.rejected, stats.times_opened) == (1, 1)
        await anyio.sleep(0.3)  # the cool-down (not a timing assertion)
        http_server.route("/down", Reply(200, b"back"))
        assert (await http.get("/down")).content == b"back"
        assert http.statistics().breaker.state is BreakerState.CLOSED


async def test_breaker_reopens_when_trial_fails(face: Face, http_server: ScriptedServer) -> None:
    http_server.route("/down", Reply(503))
    breaker = BreakerSettings(failure_threshold=1, cooldown=0.1)
    async with open_face(
        face, service(http_server.url, breaker=breaker, retry=RetryPolicy(max_attempts=1))
    ) as http:
        await http.get("/down")
        await anyio.sleep(0.2)
        assert http.statistics().breaker.state is BreakerState.HALF_OPEN
        await http.get("/down")  # the trial fails
        assert http.statistics().breaker.state is BreakerState.OPEN
        assert http.statistics().breaker.times_opened == 2


async def test_connect_error_is_retried_then_raised(face: Face, closed_port_url: str) -> None:
    async with open_face(face, service(closed_port_url)) as http:
        with pytest.raises(HttpConnectError) as caught:
            await http.get("/x")
        assert caught.value.resource == f"{closed_port_url}/x"
        stats = http.statistics()
        assert (stats.requests, stats.retries) == (FAST_RETRY.max_attempts, 3)
        assert not await _healthy(http)


async def _healthy(http: HttpService) -> bool:
    try:
        return await http.health_check()
    except HttpConnectError:
        return False


async def test_read_timeout(face: Face, http_server: ScriptedServer) -> None:
    http_server.route("/slow", Reply(200, b"late", delay=1.0))
    async with open_face(face, service(http_server.url, read_timeout=0.1)) as http:
        with pytest.raises(HttpTimeoutError) as caught:
            await http.get("/slow", retry=False)
        assert isinstance(caught.value, ServiceTimeoutError)
        assert "read timeout" in str(caught.value)


async def test_streaming_to_file(face: Face, http_server: ScriptedServer, tmp_path: Path) -> None:
    size = 3 * 1024 * 1024 + 17
    http_server.route("/big", Reply(generated=size))
    seen: list[tuple[int, int | None]] = []
    async with open_face(face, service(http_server.url)) as http:
        dest = tmp_path / "big.bin"
        written = await http.download_to_file(
            "/big", dest, progress=lambda done, total: seen.append((done, total))
        )
        assert written == size == dest.stat().st_size
        expected = hashlib.sha256(generated_bytes(size)).hexdigest()
        assert hashlib.sha256(dest.read_bytes()).hexdigest() == expected
        assert seen[-1] == (size, size)
        assert len(seen) > 1  # arrived in chunks, not buffered whole
        assert not (tmp_path / "big.bin.part").exists()
        quiet = tmp_path / "quiet.bin"
        assert await http.download_to_file("/big", quiet) == size  # no progress callback
        assert quiet.read_bytes() == dest.read_bytes()
        chunks = [chunk async for chunk in http.stream_bytes("/big", chunk_size=65536)]
        assert len(chunks) > 1
        assert max(len(c) for c in chunks) <= 65536
        assert sum(len(c) for c in chunks) == size


async def test_streaming_error_status_leaves_no_file(
    face: Face, http_server: ScriptedServer, tmp_path: Path
) -> None:
    async with open_face(face, service(http_server.url)) as http:
        with pytest.raises(HttpNotFoundError):
            await http.download_to_file("/nothing", tmp_path / "x.bin")
        assert [p async for p in anyio.Path(tmp_path).iterdir()] == []


async def test_health_check(face: Face, http_server: ScriptedServer) -> None:
    http_server.route("/healthz", Reply(204), Reply(503))
    async with open_face(face, service(http_server.url, health_path="/healthz")) as http:
        assert await http.health_check() is True
        assert await http.health_check() is False
        assert http_server.hits["/healthz"] == 2  # no retries


async def test_use_after_close(face: Face, http_server: ScriptedServer) -> None:
    svc = service(http_server.url)
    async with open_face(face, svc) as http:
        assert (await http.get("/x")).status_code == 404
    with pytest.raises(ServiceClosedError):
        await svc.get("/x")


async def test_cancellation_leaves_service_usable(http_server: ScriptedServer) -> None:
    http_server.route("/slow", Reply(200, b"late", delay=0.5))
    http_server.route("/fast", Reply(200, b"ok"))
    async with service(http_server.url) as http:
        with anyio.move_on_after(0.05) as scope:
            await http.get("/slow")
        assert scope.cancelled_caught
        assert (await http.get("/fast")).content == b"ok"
        assert http.statistics().breaker.consecutive_failures == 0  # cancellation is no failure


async def test_concurrent_requests_share_the_breaker(http_server: ScriptedServer) -> None:
    http_server.route("/down", Reply(500))
    breaker = BreakerSettings(failure_threshold=5, cooldown=60)
    async with service(http_server.url, breaker=breaker, retry=RetryPolicy(max_attempts=1)) as http:
        results: list[str] = []

        async def one() -> None:
            try:
                await http.get("/down")
                results.append("sent")
            except HttpCircuitOpenError:
                results.append("refused")

        for _ in range(3):
            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    tg.start_soon(one)
        assert results.count("sent") == http_server.hits["/down"]
        assert 5 <= results.count("sent") < 12
        assert results.count("refused") == 12 - results.count("sent")
