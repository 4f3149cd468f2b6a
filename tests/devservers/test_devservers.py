"""The devservers' pure logic: no network, no servers (one ``sleep`` process at most)."""

from __future__ import annotations

import io
import socket
import subprocess
from pathlib import Path

import pytest

from anyservices import devservers
from anyservices.devservers import (
    _ceph,
    _common,
    _install,
    _libssl,
    _probes,
    _process,
    _redis,
    _s3,
    _server,
)
from anyservices.devservers.__main__ import main


@pytest.fixture(autouse=True)
def private_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test gets its own state folder and no configured endpoints."""
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_DIR", str(tmp_path))
    for server in devservers.SERVERS.values():
        monkeypatch.delenv(server.variable, raising=False)
    return tmp_path


def test_exports_are_quoted_for_eval() -> None:
    text = devservers.format_exports({"B": "x y", "A": "mongodb://h/?a=1&b=2"})
    assert text == "export A='mongodb://h/?a=1&b=2'\nexport B='x y'\n"
    out = subprocess.run(
        ["bash", "-c", f'{text}\necho "$A|$B"'], capture_output=True, text=True, check=True
    ).stdout
    assert out == "mongodb://h/?a=1&b=2|x y\n"


def test_port_override_and_bad_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_REDIS_STACK_PORT", "7001")
    assert _common.port_for("redis-stack", 6391) == 7001
    assert devservers.SERVERS["redis-stack"].env() == {
        "ANYSERVICES_REDIS_STACK_URL": "redis://127.0.0.1:7001/0"
    }
    for bad in ("seventy", "0", "70000", "-1"):
        monkeypatch.setenv("ANYSERVICES_DEVSERVERS_REDIS_STACK_PORT", bad)
        with pytest.raises(ValueError, match="ANYSERVICES_DEVSERVERS_REDIS_STACK_PORT"):
            _common.port_for("redis-stack", 6391)


def test_default_endpoints() -> None:
    assert devservers.SERVERS["redis"].env() == {
        "ANYSERVICES_REDIS_URL": "redis://127.0.0.1:6390/0"
    }
    assert devservers.SERVERS["mongo"].env() == {
        "ANYSERVICES_MONGO_URL": "mongodb://127.0.0.1:27030/?directConnection=true",
        "ANYSERVICES_MONGO_DATABASE": "anyservices",
    }


def test_s3_env_names_the_server_it_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    def radosgw(port: int) -> str:
        return "radosgw"

    monkeypatch.setattr(_s3, "s3_flavour", radosgw)
    env = devservers.SERVERS["s3"].env()
    assert env["ANYSERVICES_MINIO_ENDPOINT"] == "127.0.0.1:9010"
    assert env["ANYSERVICES_MINIO_ACCESS_KEY"] == "anyservices-dev"
    assert env["ANYSERVICES_MINIO_SECURE"] == "false"
    assert env["ANYSERVICES_S3_SERVER"] == "radosgw"


def test_s3_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _s3.chosen_server() == "auto"
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_S3", " Moto ")
    assert _s3.chosen_server() == "moto"
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_S3", "minio")
    with pytest.raises(devservers.DevServerError, match="radosgw or moto"):
        _s3.chosen_server()


def test_unknown_server_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown server"):
        devservers.ensure_started(only=["postgres"])
    assert main(["status", "--only", "redis,postgres"]) == 1


def test_only_keeps_the_registry_order() -> None:
    names = [server.name for server in devservers.select(["s3", " redis", ""])]
    assert names == ["redis", "s3"]


def test_configured_endpoint_is_only_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    server = devservers.SERVERS["redis"]
    checked: list[str] = []
    monkeypatch.setenv("ANYSERVICES_REDIS_URL", "redis://:secret@db.example:1/0")

    def check(self: _server.Server) -> None:
        checked.append(self.name)

    monkeypatch.setattr(type(server), "check_configured", check)

    def refuse(self: object) -> None:
        raise AssertionError("a configured server must not be started")

    monkeypatch.setattr(type(server), "start", refuse)
    assert devservers.ensure_started(only=["redis"]) == {}
    assert checked == ["redis"]


def test_configured_endpoint_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ANYSERVICES_REDIS_URL", f"redis://:hunter2@127.0.0.1:{port}/0")
    with pytest.raises(devservers.DevServerError, match="does not answer") as caught:
        devservers.ensure_started(only=["redis"])
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("redis://:pw@cache.local:6400/0", ("cache.local", 6400)),
        ("redis://cache.local/0", ("cache.local", 6379)),
        ("mongodb://u:p@a.local:27018,b.local:27019/?replicaSet=rs0", ("a.local", 27018)),
        ("mongodb://[::1]:27017/", ("::1", 27017)),
        ("mongodb://[::1]/", ("::1", 27017)),
        ("mongodb+srv://cluster.example/", None),
        ("unix:///run/redis.sock", None),
        ("127.0.0.1:9000", ("127.0.0.1", 9000)),
        ("s3.local", ("s3.local", 80)),
    ],
)
def test_user_endpoint_parsing(value: str, expected: tuple[str, int] | None) -> None:
    assert _server.user_endpoint(value) == expected


def test_failed_start_stops_what_it_spawned(monkeypatch: pytest.MonkeyPatch) -> None:
    server = devservers.SERVERS["mongo"]
    spawned: list[int] = []

    def broken_start(self: _server.Server) -> None:
        spawned.append(self.spawn(["sleep", "30"]).pid)
        raise devservers.DevServerError("mongo did not answer")

    def silent(self: _server.Server) -> bool:
        return False

    def markers(self: _server.Server) -> tuple[str, ...]:
        return ("sleep",)

    monkeypatch.setattr(type(server), "answers", silent)
    monkeypatch.setattr(type(server), "markers", markers)
    monkeypatch.setattr(type(server), "start", broken_start)
    with pytest.raises(devservers.DevServerError, match=r"\[mongo\] mongo did not answer"):
        devservers.ensure_started(only=["mongo"])
    assert not _process.is_ours(spawned[0], None, ("sleep",))
    assert not _process.pidfile("mongo").exists()


def test_ceph_conf_keeps_everything_private_and_on_loopback(tmp_path: Path) -> None:
    text = _ceph.render_conf(tmp_path, "fsid-1", 41000, 9010)
    settings = dict(
        line.split(" = ", 1) for line in text.splitlines() if " = " in line and "[" not in line
    )
    assert settings["mon_host"] == "v1:127.0.0.1:41000"
    assert settings["ms_bind_msgr2"] == "false"
    assert settings["osd_objectstore"] == "memstore"
    assert settings["osd_pool_default_size"] == "1"
    assert {settings[f"auth_{who}_required"] for who in ("cluster", "service", "client")} == {
        "none"
    }
    assert settings["rgw_frontends"] == "beast endpoint=127.0.0.1:9010 tcp_nodelay=1"
    assert settings["rgw_gc_obj_min_wait"] == "0"  # deleted objects are freed at once
    paths = [value for value in settings.values() if value.startswith("/")]
    assert paths
    assert all(value.startswith(str(tmp_path)) for value in paths)
    assert text.index("[global]") < text.index("[client.rgw]") < text.index("rgw_frontends")


def test_security_mirror_follows_the_machine_sources(tmp_path: Path) -> None:
    assert _libssl.security_mirror(["http://mirror.local/debian/"]) == (
        "http://mirror.local/debian-security"
    )
    assert _libssl.security_mirror(
        ["http://mirror.local/debian", "http://sec.local/debian-security"]
    ) == ("http://sec.local/debian-security")
    assert _libssl.security_mirror([]) == "http://deb.debian.org/debian-security"


def test_source_uris_reads_both_formats(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.out/debian bookworm main\n"
        "deb [signed-by=/k.gpg] http://one.local/debian bookworm main\n"
    )
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "debian.sources").write_text(
        "Types: deb\n# http://snapshot.local/x\nURIs: http://two.local/debian-security\n"
    )
    (parts / "notes.txt").write_text("deb http://ignored.local/debian x main\n")
    monkeypatch.setattr(_libssl, "_SOURCES", [tmp_path / "sources.list", parts])
    assert _libssl.source_uris() == ["http://one.local/debian", "http://two.local/debian-security"]


def test_resp_encoding_and_replies() -> None:
    assert _probes.resp_encode("GET", "ké") == b"*2\r\n$3\r\nGET\r\n$3\r\nk\xc3\xa9\r\n"
    reply = b"*2\r\n*4\r\n$4\r\nname\r\n$6\r\nsearch\r\n$3\r\nver\r\n:21005\r\n$-1\r\n"
    value = _probes.resp_read(io.BytesIO(reply))
    assert value == [[b"name", b"search", b"ver", 21005], None]
    assert _redis.module_names(value) == {"search"}
    with pytest.raises(_probes.RespError, match="NOAUTH"):
        _probes.resp_read(io.BytesIO(b"-NOAUTH Authentication required.\r\n"))
    with pytest.raises(ConnectionError):
        _probes.resp_read(io.BytesIO(b"+PON"))


def test_mongo_hello_message_is_well_formed() -> None:
    message = _probes.mongo_hello_message(7)
    length, request_id, response_to, opcode = (
        int.from_bytes(message[i : i + 4], "little", signed=True) for i in range(0, 16, 4)
    )
    assert (length, request_id, response_to, opcode) == (len(message), 7, 0, 2013)
    document = message[21:]
    assert int.from_bytes(document[:4], "little") == len(document)
    assert b"hello\x00\x01\x00\x00\x00" in document
    assert b"$db\x00\x06\x00\x00\x00admin\x00" in document


def test_s3_flavour_from_headers() -> None:
    assert _probes.flavour_of({"server": "MinIO", "x-amz-request-id": "1"}) == "minio"
    assert _probes.flavour_of({"x-amzn-requestid": "1", "server": "Werkzeug"}) == "moto"
    assert _probes.flavour_of({"x-amz-request-id": "tx0-default"}) == "radosgw"
    assert _probes.flavour_of({"server": "nginx"}) is None


def test_probes_on_a_silent_socket() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert _common.is_listening(port)
    assert not _common.is_listening(port)
    assert not _probes.redis_answers(port)
    assert not _probes.mongo_answers(port)
    assert _probes.s3_flavour(port) is None


def test_wait_until_reports_the_log_tail(tmp_path: Path) -> None:
    logfile = tmp_path / "x.log"
    logfile.write_text("".join(f"line {n}\n" for n in range(100)) + "FATAL: bad config\n")
    with pytest.raises(devservers.DevServerError, match="FATAL: bad config") as caught:
        _common.wait_until(lambda: False, "x", logfile, timeout=0.2)
    assert "line 10\n" not in str(caught.value)
    with pytest.raises(devservers.DevServerError, match="exited during start-up"):
        _common.wait_until(lambda: False, "x", logfile, timeout=30, alive=lambda: False)


def test_stop_without_pidfile() -> None:
    assert devservers.stop(only=["redis"]) == []


def test_stop_skips_a_recycled_pid() -> None:
    process = subprocess.Popen(["sleep", "30"])
    try:
        start = _process.started_at(process.pid)
        # Same PID, another start time; a bare PID whose command line names no marker.
        _process.pidfile("redis").write_text(f"{process.pid} {start + 1}\n{process.pid}\n")
        assert _process.recorded("redis") == [(process.pid, start + 1), (process.pid, None)]
        assert _process.stop_recorded("redis", ("no-such-marker",)) == []
        assert process.poll() is None
        assert not _process.pidfile("redis").exists()
    finally:
        process.kill()
        process.wait()


def test_a_bare_pid_is_ours_when_its_command_line_names_a_marker() -> None:
    process = subprocess.Popen(["sleep", "31"])
    try:
        _process.pidfile("redis").write_text(f"{process.pid}\n")  # as redis-server writes it
        assert _process.stop_recorded("redis", ("31",)) == [process.pid]
        assert process.wait(timeout=5) != 0
    finally:
        process.kill()
        process.wait()


def test_spawn_and_stop_a_real_process(tmp_path: Path) -> None:
    process = _process.spawn(["sleep", "30"], tmp_path / "sleeper.log")
    _process.record("sleeper", [process.pid])
    start = _process.started_at(process.pid)
    assert start > 0
    assert _process.pidfile("sleeper").read_text() == f"{process.pid} {start}\n"
    assert _process.running("sleeper", ()) == [process.pid]
    assert _process.stop_recorded("sleeper", ()) == [process.pid]
    assert process.wait(timeout=5) != 0
    assert not _process.pidfile("sleeper").exists()
    assert _process.started_at(process.pid) == 0


def test_run_step_failure_shows_the_output() -> None:
    with pytest.raises(
        devservers.DevServerError, match=r"(?s)frobnicating failed \(exit 3\).*broke"
    ):
        _install.run_step(["bash", "-c", "echo it broke >&2; exit 3"], "frobnicating")


def test_cli_env_prints_only_servers_that_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def only_redis(self: _server.Server) -> bool:
        return self.name == "redis"

    for server in devservers.SERVERS.values():
        monkeypatch.setattr(type(server), "answers", only_redis)
    assert main(["env"]) == 0
    assert capsys.readouterr().out == "export ANYSERVICES_REDIS_URL=redis://127.0.0.1:6390/0\n"
    assert main(["status", "--only", "redis,mongo"]) == 1
    out = capsys.readouterr().out
    assert "redis        up" in out
    assert "mongo        down" in out


@pytest.mark.parametrize(
    ("failures", "choice", "expected"),
    [
        (1, "auto", ["radosgw", "radosgw"]),  # lost its start-up race once: a new cluster
        (2, "auto", ["radosgw", "radosgw", "moto"]),
        (2, "radosgw", ["radosgw", "radosgw", "raised"]),
    ],
)
def test_s3_makes_a_new_ceph_cluster_once_before_falling_back(
    monkeypatch: pytest.MonkeyPatch, failures: int, choice: str, expected: list[str]
) -> None:
    server = devservers.SERVERS["s3"]
    started: list[str] = []
    stopped: list[str] = []
    monkeypatch.setenv("ANYSERVICES_DEVSERVERS_S3", choice)

    def radosgw(self: object) -> None:
        started.append("radosgw")
        if started.count("radosgw") <= failures:
            raise devservers.DevServerError("radosgw exited during start-up")

    def moto(self: object) -> None:
        started.append("moto")

    def stop(name: str, markers: object) -> None:
        stopped.append(name)

    monkeypatch.setattr(_s3.S3, "_start_radosgw", radosgw)
    monkeypatch.setattr(_s3.S3, "_start_moto", moto)
    monkeypatch.setattr(_s3, "stop_recorded", stop)
    monkeypatch.setattr(_s3, "log", print)
    try:
        server.start()
    except devservers.DevServerError:
        started.append("raised")
    assert started == expected
    assert stopped == ["s3"] * failures
