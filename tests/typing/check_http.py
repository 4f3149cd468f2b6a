"""Never executed: pins the public types of HttpService and its sync face."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, assert_type

import httpx
import pydantic

from anyservices import blocking
from anyservices.http import (
    BreakerState,
    HttpConfig,
    HttpService,
    HttpStatistics,
    SyncHttpService,
)


class Item(pydantic.BaseModel):
    id: int


def check_sync_face() -> None:
    with blocking(HttpService(HttpConfig(base_url="http://h"))) as http:
        assert_type(http, SyncHttpService)
        assert_type(http.get("/"), httpx.Response)
        assert_type(http.post("/", json={"a": 1}, retry=True), httpx.Response)
        assert_type(http.request("PURGE", "/x"), httpx.Response)
        assert_type(http.get_json("/"), Any)
        assert_type(http.get_model("/", Item), Item)
        assert_type(http.get_models("/", Item), list[Item])
        assert_type(http.post_model("/", Item(id=1), Item), Item)
        assert_type(http.download_to_file("/", "out.bin"), int)
        assert_type(http.stream_bytes("/"), Iterator[bytes])
        assert_type(http.health_check(), bool)
        assert_type(http.probe(), None)
        assert_type(http.statistics(), HttpStatistics)
        assert_type(http.statistics().breaker.state, BreakerState)


async def check_async() -> None:
    async with HttpService(HttpConfig()) as http:
        assert_type(http, HttpService)
        assert_type(await http.get("/"), httpx.Response)
        assert_type(await http.get_model("/", Item), Item)
        assert_type(await http.put_model("/", {"id": 1}, Item), Item)
        assert_type(await http.probe(), None)
        assert_type(http.statistics(), HttpStatistics)
