"""Real local servers without Docker, for the tests and the demo.

``python -m anyservices.devservers start`` installs what is missing and starts, on
loopback, Redis 7 (6390), Redis Stack with Search and JSON (6391), a MongoDB-wire
server (27030) and an S3 server (9010), then prints their endpoints as ``export``
lines. An endpoint whose variable is already set is the user's: it is only checked,
never started or stopped. Standard library only: it runs before anything else is
installed (the optional checks use pymongo and minio when they can).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from ._common import DevServerError, file_lock, log
from ._mongo import Mongo
from ._process import running, stop_recorded
from ._redis import Redis, RedisStack
from ._redis_cluster import RedisCluster
from ._redis_sentinel import RedisSentinel
from ._s3 import S3
from ._server import Server

SERVERS: dict[str, Server] = {
    server.name: server
    for server in (Redis(), RedisStack(), RedisCluster(), RedisSentinel(), Mongo(), S3())
}

__all__ = (
    "SERVERS",
    "DevServerError",
    "Server",
    "ensure_started",
    "env",
    "format_exports",
    "status",
    "stop",
)


def select(only: Iterable[str] | None) -> list[Server]:
    """The servers named in ``only`` (all of them when None), in a stable order."""
    names = list(SERVERS) if only is None else [name.strip() for name in only if name.strip()]
    unknown = sorted(set(names) - set(SERVERS))
    if unknown:
        raise ValueError(f"unknown server(s) {unknown}; choose from {', '.join(SERVERS)}")
    return [server for name, server in SERVERS.items() if name in names]


def ensure_started(only: Iterable[str] | None = None) -> dict[str, str]:
    """Start the servers that do not answer yet, concurrently; return their ``ANYSERVICES_*``.

    Endpoints configured in the environment are only checked and add nothing to the result.
    Raises :class:`DevServerError` naming every server that could not be had.
    """
    servers = select(only)
    with ThreadPoolExecutor(max_workers=max(len(servers), 1)) as pool:
        futures = [(server, pool.submit(_ensure_one, server)) for server in servers]
    result: dict[str, str] = {}
    failures: list[str] = []
    for server, future in futures:
        error = future.exception()
        if error is None:
            result.update(future.result())
        else:
            failures.append(f"[{server.name}] {error}")
    if failures:
        raise DevServerError("\n".join(failures))
    return result


def _ensure_one(server: Server) -> dict[str, str]:
    if server.configured():
        server.check_configured()
        log(f"{server.name}: {server.variable} is set: using that endpoint")
        return {}
    with file_lock(server.name):
        if server.answers():
            server.check_reused()
            return server.env()
        stop_recorded(server.name, server.markers())  # leftovers of an earlier, broken start
        if server.logfile.exists():  # each start gets a fresh log; the previous one is kept
            server.logfile.replace(server.logfile.with_suffix(".log.1"))
        log(f"{server.name}: starting on {server.describe()} ...")
        started = time.monotonic()
        try:
            server.start()
            server.verify()
        except BaseException:
            stop_recorded(server.name, server.markers())
            raise
        log(f"{server.name}: up in {time.monotonic() - started:.1f} s")
        return server.env()


def env(only: Iterable[str] | None = None) -> dict[str, str]:
    """The variables of the servers that answer now (configured endpoints excluded)."""
    result: dict[str, str] = {}
    for server in select(only):
        if not server.configured() and server.answers():
            result.update(server.env())
    return result


def stop(only: Iterable[str] | None = None) -> list[str]:
    """Stop the servers this tool started (by PID); return the names of those it stopped."""
    return [server.name for server in select(only) if stop_recorded(server.name, server.markers())]


def status(only: Iterable[str] | None = None) -> dict[str, str]:
    """A one-line state per server: up or down, where, and whose."""
    lines: dict[str, str] = {}
    for server in select(only):
        if server.configured():
            try:
                server.check_configured()
            except DevServerError:
                lines[server.name] = f"down (yours: {server.variable} is set)"
            else:
                lines[server.name] = f"up   (yours: {server.variable} is set)"
            continue
        state = "up" if server.answers() else "down"
        pids = running(server.name, server.markers())
        owner = f"started here, pid {' '.join(map(str, pids))}" if pids else "not started here"
        lines[server.name] = f"{state:4} {server.describe()}  {owner}"
    return lines


def format_exports(variables: dict[str, str]) -> str:
    """Shell ``export`` lines, quoted for ``eval``."""
    return "".join(
        f"export {key}={shlex.quote(value)}\n" for key, value in sorted(variables.items())
    )
