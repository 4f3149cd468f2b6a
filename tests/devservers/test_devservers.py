"""The devservers' pure logic (no servers are started here)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from anyservices import devservers
from anyservices.devservers import _common, _servers


def test_exports_are_quoted_for_eval() -> None:
    text = devservers.format_exports({"B": "x y", "A": "mongodb://h/?a=1&b=2"})
    assert text == "export A='mongodb://h/?a=1&b=2'\nexport B='x y'\n"
    out = subprocess.run(
        ["bash", "-c", f'{text}\necho "$A|$B"'], capture_output=True, text=True, check=True
    ).stdout
    assert out == "mongodb://h/?a=1&b=2|x y\n"


def test_port_override_and_bad_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_REDIS_STACK_PORT", "7001")
    assert _common.port_for("redis-stack", 6391) == 7001
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_REDIS_STACK_PORT", "seventy")
    with pytest.raises(ValueError, match="ANYSERVICES_DEVSERVERS_REDIS_STACK_PORT"):
        _common.port_for("redis-stack", 6391)


def test_unknown_server_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown server"):
        devservers.ensure_started(only=["postgres"])


def test_configured_endpoint_is_never_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_REDIS_URL", "redis://example.invalid:1/0")

    def refuse() -> None:
        raise AssertionError("must not start a configured server")

    monkeypatch.setattr(_servers.SERVERS["redis"], "start", refuse)
    assert devservers.ensure_started(only=["redis"]) == {}


def test_every_server_names_its_variable() -> None:
    for server in _servers.SERVERS.values():
        env = server.env()
        assert server.variable in env
        assert all(key.startswith("ANYSERVICES_") for key in env)


def test_is_listening_and_redis_ping_on_a_plain_socket() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert _common.is_listening(port)
    assert not _common.is_listening(port)
    assert not _common.redis_ping(port)


def test_wait_until_reports_the_log_tail(tmp_path: Path) -> None:
    logfile = tmp_path / "x.log"
    logfile.write_text("line one\nFATAL: bad config\n")
    with pytest.raises(RuntimeError, match="FATAL: bad config"):
        _common.wait_until(lambda: False, "x", logfile, timeout=0.2)


def test_stop_without_pidfile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_DIR", str(tmp_path))
    assert devservers.stop(only=["redis"]) == []


def test_spawn_and_stop_a_real_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_DIR", str(tmp_path))
    pid = _common.spawn("sleeper", ["sleep", "30"])
    assert (tmp_path / "sleeper.pid").read_text() == str(pid)
    assert _common.stop_pid("sleeper")
    assert not (tmp_path / "sleeper.pid").exists()


def test_debian_mirror_is_a_debian_url() -> None:
    assert _servers._debian_mirror().endswith("/debian")
