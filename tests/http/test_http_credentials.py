"""Credentials in URLs reach the server as basic auth and no log line (issue 10 #9)."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest

from anyservices.http import HttpConfig, HttpService
from anyservices.testing import Face, open_face

TOKEN = "TOKEN-hunter2-s3cr3t"
OTHER = "OTHER-hunter3-s3cr3t"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _all_text(records: list[logging.LogRecord]) -> str:
    return "\n".join(
        f"{record.name} {record.getMessage()} {record.msg!r} {record.args!r}" for record in records
    )


async def test_no_logger_sees_the_credentials(face: Face, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    config = HttpConfig(base_url=f"http://user:{TOKEN}@api.test/v1")
    service = HttpService(config, transport=httpx.MockTransport(handler))
    with caplog.at_level(logging.DEBUG):
        async with open_face(face, service) as http:
            assert (await http.get("/ping")).status_code == 200
            assert (await http.post("/items", json={"x": 1})).status_code == 200
            await http.get(f"http://other:{OTHER}@elsewhere.test/x")
            await http.probe()
            assert TOKEN not in repr(http)
    assert [str(request.url) for request in seen] == [
        "http://api.test/v1/ping",
        "http://api.test/v1/items",
        "http://elsewhere.test/x",
        "http://api.test/v1/",
    ]
    assert [request.headers["Authorization"] for request in seen] == [
        _basic("user", TOKEN),
        _basic("user", TOKEN),
        _basic("other", OTHER),
        _basic("user", TOKEN),
    ]
    assert any(record.name == "httpx" for record in caplog.records)  # httpx did log them
    text = _all_text(caplog.records)
    assert TOKEN not in text
    assert OTHER not in text


async def test_percent_encoded_credentials_are_decoded_once(face: Face) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(204)

    config = HttpConfig(base_url="http://us%40er:p%2Fw%3Ax@api.test")
    async with open_face(face, HttpService(config, transport=httpx.MockTransport(handler))) as http:
        await http.get("/")
    assert seen == [_basic("us@er", "p/w:x")]


async def test_the_generic_request_verb(face: Face) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=f"{request.method} {request.url.path}")

    config = HttpConfig(base_url="http://api.test")
    async with open_face(face, HttpService(config, transport=httpx.MockTransport(handler))) as http:
        response = await http.request("DELETE", "/items/1", retry=False)
    assert response.text == "DELETE /items/1"
