"""HttpConfig validation and secrecy, error mapping, and retries over a mock transport."""

from __future__ import annotations

import logging
import pickle

import anyio
import httpx
import pydantic
import pytest

from anyservices import AuthenticationError, ConflictError, NotFoundError, PermissionDeniedError
from anyservices.http import (
    BreakerSettings,
    HttpCommandError,
    HttpConfig,
    HttpConnectError,
    HttpDataError,
    HttpError,
    HttpService,
    HttpStatusError,
    HttpTimeoutError,
    RetryPolicy,
)
from anyservices.http._errors import map_errors, safe_url, status_error


def test_bad_values_name_the_field() -> None:
    with pytest.raises(pydantic.ValidationError, match="base_url"):
        HttpConfig(base_url="ftp://example.com")
    with pytest.raises(pydantic.ValidationError, match="timeout"):
        HttpConfig(timeout=0)
    with pytest.raises(pydantic.ValidationError, match="max_attempts"):
        HttpConfig.model_validate({"retry": {"max_attempts": -1}})
    with pytest.raises(pydantic.ValidationError, match="unknown_field"):
        HttpConfig.model_validate({"unknown_field": 1})


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_HTTP_BASE_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("ANYSERVICES_HTTP_RETRY__MAX_ATTEMPTS", "7")
    monkeypatch.setenv("ANYSERVICES_HTTP_BREAKER__COOLDOWN", "1.5")
    config = HttpConfig.from_env()
    assert config.base_url == "http://127.0.0.1:9/api"
    assert config.retry.max_attempts == 7
    assert config.breaker.cooldown == 1.5


def test_secrets_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    config = HttpConfig(
        base_url="https://alice:s3cret@api.example.com/v1",
        bearer_token=pydantic.SecretStr("tok3n"),
        headers={"Authorization": "Basic xyz", "X-Api-Key": "k3y", "Accept": "a/b"},
    )
    service = HttpService(config)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("anyservices.http").debug("config %r service %r", config, service)
    shown = repr(config) + repr(service) + caplog.text + str(config)
    for secret in ("s3cret", "tok3n", "xyz", "k3y"):
        assert secret not in shown
    assert "a/b" in repr(config)
    assert "api.example.com" in repr(service)


def test_safe_url() -> None:
    assert safe_url("https://u:p@h.example/x?token=abc&page=2&Signature=zz") == (
        "https://h.example/x?token=***&page=2&Signature=***"
    )
    assert safe_url("http://h/") == "http://h/"
    assert safe_url("http://h/users/@me?q=a@b") == "http://h/users/@me?q=a@b"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (410, NotFoundError),
        (409, ConflictError),
        (418, HttpCommandError),
        (500, HttpCommandError),
    ],
)
def test_status_mapping(status: int, kind: type[Exception]) -> None:
    request = httpx.Request("DELETE", "http://u:pw@h/things/1?key=zzz")
    error = status_error(httpx.Response(status, request=request, content=b"why"))
    assert isinstance(error, kind)
    assert isinstance(error, HttpStatusError)
    assert (error.status, error.method, error.body) == (status, "DELETE", "why")
    assert "pw" not in str(error)
    assert "zzz" not in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.status, copy.url) == (type(error), status, error.url)


@pytest.mark.parametrize(
    ("raised", "kind", "message"),
    [
        (httpx.ReadTimeout("slow"), HttpTimeoutError, "read timeout: slow"),
        (httpx.TimeoutException(""), HttpTimeoutError, "request timeout: TimeoutException"),
        (httpx.ConnectError("refused"), HttpConnectError, "cannot reach the server: refused"),
        (httpx.ReadError("reset"), HttpConnectError, "cannot reach the server: reset"),
        (httpx.WriteError("pipe"), HttpConnectError, "connection broken: pipe"),
        (httpx.DecodingError("gzip"), HttpDataError, "response body cannot be decoded: gzip"),
        (httpx.TooManyRedirects("loop"), HttpError, "transport error: loop"),
        (httpx.InvalidURL("Invalid port: 'hunter2'"), HttpError, "invalid URL"),
    ],
)
def test_map_errors_is_the_one_boundary(
    raised: Exception, kind: type[HttpError], message: str
) -> None:
    with pytest.raises(kind) as caught, map_errors("GET", "http://h/"):
        raise raised
    assert type(caught.value) is kind
    assert caught.value.message == message
    assert (caught.value.service, caught.value.operation) == ("http", "GET")
    assert caught.value.resource == "http://h/"
    assert "hunter2" not in str(caught.value)
    assert isinstance(caught.value, TimeoutError) == (kind is HttpTimeoutError)


def test_map_errors_lets_other_errors_through() -> None:
    with pytest.raises(KeyError), map_errors("GET", "http://h/"):
        raise KeyError("not httpx's")


def mock_service(handler: object, **config: object) -> HttpService:
    settings: dict[str, object] = {
        "base_url": "http://mock",
        "retry": RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.001),
    }
    settings.update(config)
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return HttpService(HttpConfig.model_validate(settings), transport=transport)


async def test_timeouts_retried_only_when_allowed() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("slow", request=request)

    async with mock_service(handler) as http:
        with pytest.raises(HttpTimeoutError):
            await http.get("/")
        assert calls == ["GET"] * 3
        with pytest.raises(HttpTimeoutError):
            await http.post("/", json={})
        assert calls[3:] == ["POST"]


async def test_bearer_and_user_agent_sent() -> None:
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200)

    config = {"bearer_token": "abc", "breaker": BreakerSettings(enabled=False)}
    async with mock_service(handler, **config) as http:
        await http.get("/")
    assert seen[0]["Authorization"] == "Bearer abc"
    assert seen[0]["User-Agent"] == "anyservices-http"


async def test_retry_after_ignored_when_told_to() -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(len(calls))
        if len(calls) == 1:
            return httpx.Response(503, headers={"Retry-After": "3600"})
        return httpx.Response(200)

    policy = RetryPolicy(
        max_attempts=2, backoff_base=0.001, backoff_max=0.001, respect_retry_after=False
    )
    async with mock_service(handler, retry=policy) as http:
        with anyio.fail_after(5):  # an hour if Retry-After were honoured
            assert (await http.get("/")).status_code == 200
    assert len(calls) == 2


async def test_json_bodies_use_the_shared_codec() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        assert request.headers["Content-Type"] == "application/json"
        return httpx.Response(200, json={"ok": True})

    class Item(pydantic.BaseModel):
        name: str

    async with mock_service(handler) as http:
        await http.post("/", json={"item": Item(name="a")})
        with pytest.raises(HttpDataError, match="cannot encode as JSON"):
            await http.post("/", json={"x": object()})
    assert bodies == [b'{"item":{"name":"a"}}']
