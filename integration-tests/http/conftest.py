"""Fixtures of the HttpService integration tests: a scripted local HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scripted_http_server import ScriptedServer, closed_port_url_fixture, http_server_fixture


@pytest.fixture
def http_server() -> Iterator[ScriptedServer]:
    yield from http_server_fixture()


@pytest.fixture
def closed_port_url() -> str:
    return closed_port_url_fixture()
