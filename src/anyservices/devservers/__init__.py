"""Real local servers without Docker, for the tests and the demo.

``python -m anyservices.devservers start`` installs what is missing and starts, on
loopback, Redis 7 (6390), Redis Stack with Search and JSON (6391), a MongoDB-wire
server (27030) and an S3 server (9010), then prints their endpoints as ``export``
lines. An endpoint whose variable is already set is the user's: it is only used,
never started or stopped. Standard library only: it runs before anything else is
installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from ._common import log, stop_pid
from ._servers import SERVERS

__all__ = ("SERVERS", "ensure_started", "format_exports", "status", "stop")


def _select(only: Iterable[str] | None) -> list[str]:
    names = list(only) if only is not None else list(SERVERS)
    unknown = [name for name in names if name not in SERVERS]
    if unknown:
        raise ValueError(f"unknown server(s) {unknown}; choose from {sorted(SERVERS)}")
    return names


def ensure_started(only: Iterable[str] | None = None) -> dict[str, str]:
    """Start the servers that are not up (concurrently); return their ``ANYSERVICES_*`` env."""
    names = _select(only)

    def one(name: str) -> dict[str, str]:
        server = SERVERS[name]
        if server.configured():
            return {}
        if not server.up():
            log(f"starting {name} on port {server.port} ...")
            server.start()
        return server.env()

    with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        results = list(pool.map(one, names))
    env: dict[str, str] = {}
    for result in results:
        env.update(result)
    return env


def stop(only: Iterable[str] | None = None) -> list[str]:
    """Stop the servers this tool started; returns the names it stopped."""
    return [name for name in _select(only) if stop_pid(name)]


def status(only: Iterable[str] | None = None) -> dict[str, bool]:
    return {name: SERVERS[name].up() for name in _select(only)}


def format_exports(env: dict[str, str]) -> str:
    """Shell ``export`` lines, quoted for ``eval``."""
    import shlex  # noqa: PLC0415

    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(env.items()))
