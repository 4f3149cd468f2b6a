"""Check every configured service at once: status and latency, failing fast.

::

    report = await check_health({"cache": redis, "api": http}, deadline=3)
    print(report.format_table())
    if not report.ok: ...

Every service is asked the same way, through its readiness probe
(:meth:`Service.probe <anyservices._core._service.Service.probe>`: PING for Redis, the
``ping`` command for MongoDB, one authenticated request for S3, one ``GET health_path``
for HTTP), all concurrently, each bounded by ``deadline`` seconds and tried once: the
probes do not retry, and the checker never retries anything. A service that is not
open yet is opened for the probe and closed after it, inside the same deadline. A
failure becomes a one-line message (our errors never carry secrets); the checker does
not raise for a failed service, but it never catches cancellation, and an error that
is not a service's (a bug) still propagates.

``python -m anyservices health [--json]`` builds the services from the
``ANYSERVICES_*`` variables (:func:`services_from_env`), checks them
(:func:`check_env_health`), prints the table (or one JSON object,
:meth:`HealthReport.to_json`) and exits 0 when all are up, 1 when one is down or
misconfigured, 2 when none is set.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from pydantic import ValidationError
from pydantic_settings import SettingsError as _SettingsError

from ._core._config import ServiceConfig
from ._core._errors import AnyServicesError
from ._core._secrets import mask_url
from ._core._service import Service, State
from ._progress import progress_bar

__all__ = (
    "EnvServices",
    "HealthReport",
    "ServiceHealth",
    "check_env_health",
    "check_health",
    "services_from_env",
)

#: What a probe may raise and still be reported as DOWN: every service maps its
#: driver's errors to ``AnyServicesError``; ``OSError`` (``TimeoutError`` included)
#: covers a socket or file error a service let through unmapped. Anything else is a
#: bug and propagates; cancellation is a ``BaseException`` and is never caught.
_PROBE_ERRORS = (AnyServicesError, OSError)

_MAX_MESSAGE = 240

#: Something that looks like a URL inside a message or a target.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def _masked(text: str) -> str:
    """``text`` with every URL in it passed through ``mask_url`` (credentials hidden)."""
    return _URL.sub(lambda found: mask_url(found[0]), text)


@dataclass(frozen=True)
class ServiceHealth:
    """The result for one service."""

    name: str
    ok: bool
    #: Milliseconds until the service answered (or failed), opening included when the
    #: checker opened it, closing excluded; None when it was never probed.
    latency_ms: float | None
    #: Why it is down (None when ok): one line, without secrets.
    error: str | None = None
    #: What was checked (host and port, base URL), secret-free.
    target: str = ""


@dataclass(frozen=True)
class HealthReport:
    """The results in the order the services were given."""

    services: tuple[ServiceHealth, ...]

    @property
    def ok(self) -> bool:
        """True when every service is up (and vacuously when there is none)."""
        return all(service.ok for service in self.services)

    @property
    def down(self) -> tuple[str, ...]:
        """The names of the services that are down."""
        return tuple(service.name for service in self.services if not service.ok)

    def summary(self) -> str:
        """``"3 up, 1 down (redis)"``."""
        down = self.down
        text = f"{len(self.services) - len(down)} up, {len(down)} down"
        return f"{text} ({', '.join(down)})" if down else text

    def format_table(self) -> str:
        """A plain-text table: service, status, latency, then the target and any error."""
        rows = [("SERVICE", "STATUS", "LATENCY", "TARGET / ERROR")]
        for s in self.services:
            latency = "-" if s.latency_ms is None else f"{s.latency_ms:.1f} ms"
            detail = s.target if s.ok else f"{s.target}  {s.error or ''}".strip()
            rows.append((s.name, "up" if s.ok else "DOWN", latency, detail))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
            + "  "
            + row[3]
            for row in rows
        ]
        return "\n".join(line.rstrip() for line in lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: ``ok``, ``summary`` and, per service name, its
        ``ok``, ``reason`` (None when up), ``elapsed_ms`` (None when never probed) and
        ``target``; URLs in them pass through ``mask_url``."""
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "services": {
                s.name: {
                    "ok": s.ok,
                    "reason": None if s.error is None else _masked(s.error),
                    "elapsed_ms": None if s.latency_ms is None else round(s.latency_ms, 3),
                    "target": _masked(s.target),
                }
                for s in self.services
            },
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as one line of JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


# -- probing ---------------------------------------------------------------------------


async def _check_one(name: str, service: Service[Any], deadline: float) -> ServiceHealth:
    target = service._describe()  # noqa: SLF001 -- the secret-free description every service has
    started = anyio.current_time()
    answered: float | None = None
    error: str | None = None
    with anyio.move_on_after(deadline) as scope:
        try:
            if service.state is State.NEW:
                async with service:
                    try:
                        await service.probe()
                    finally:  # the latency ends with the answer, not with the closing
                        answered = anyio.current_time()
            else:
                await service.probe()
        except _PROBE_ERRORS as exc:
            error = _one_line(exc)
    ended = answered if answered is not None else anyio.current_time()
    if scope.cancelled_caught:  # only our deadline: an outer cancellation propagates
        error = f"no answer within {deadline:g} s"
    return ServiceHealth(
        name=name,
        ok=error is None,
        latency_ms=(ended - started) * 1000,
        error=error,
        target=target,
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


def _named(
    services: Mapping[str, Service[Any]] | Sequence[Service[Any]],
) -> list[tuple[str, Service[Any]]]:
    if isinstance(services, Mapping):
        return list(services.items())
    named: list[tuple[str, Service[Any]]] = []
    seen: dict[str, int] = {}
    for service in services:
        count = seen[service.service_name] = seen.get(service.service_name, 0) + 1
        name = service.service_name if count == 1 else f"{service.service_name}-{count}"
        named.append((name, service))
    return named


async def check_health(
    services: Mapping[str, Service[Any]] | Sequence[Service[Any]],
    *,
    deadline: float = 5.0,
    on_result: Callable[[ServiceHealth], object] | None = None,
) -> HealthReport:
    """Probe ``services`` concurrently, once each, each within ``deadline`` seconds.

    ``services`` maps display names to services, or is a sequence (each is then
    named by its ``service_name``: ``redis``, ``redis-2``...). The report keeps their
    order. Services that are not open yet are opened and closed by the check; open
    ones stay open. The whole check takes about the slowest service's time, at most
    ``deadline`` plus the time closing takes. ``on_result`` (a plain callable) is told
    each result as it comes, in the order the services answer.
    """
    if not deadline > 0:  # also refuses NaN
        raise ValueError(f"deadline must be a positive number of seconds, not {deadline!r}")
    named = _named(services)
    results: list[ServiceHealth | None] = [None] * len(named)

    async def run(index: int, name: str, service: Service[Any]) -> None:
        result = results[index] = await _check_one(name, service, deadline)
        if on_result is not None:
            on_result(result)

    async with anyio.create_task_group() as task_group:
        for index, (name, service) in enumerate(named):
            task_group.start_soon(run, index, name, service)
    return HealthReport(services=tuple(r for r in results if r is not None))


# -- from the environment ------------------------------------------------------------

#: The services the CLI knows, in report order: the variables' prefix, the names of which
#: (any one set) say the service is configured, and where its classes live. Redis Stack
#: is a second Redis read from ``ANYSERVICES_REDIS_STACK_*`` (``_URL``, ``_PASSWORD``...).
_ENV_SERVICES = (
    ("redis", "ANYSERVICES_REDIS_", ("URL", "HOST"), "anyservices.redis", "Redis"),
    ("redis-stack", "ANYSERVICES_REDIS_STACK_", ("URL",), "anyservices.redis", "Redis"),
    ("mongo", "ANYSERVICES_MONGO_", ("URL",), "anyservices.mongo", "Mongo"),
    ("minio", "ANYSERVICES_MINIO_", ("ENDPOINT",), "anyservices.minio", "Minio"),
    ("http", "ANYSERVICES_HTTP_", ("BASE_URL",), "anyservices.http", "Http"),
    (
        "queue",
        "ANYSERVICES_QUEUE_",
        ("NAME", "REDIS__URL", "REDIS__HOST"),
        "anyservices.queue",
        "Queue",
    ),
)


@dataclass(frozen=True)
class EnvServices:
    """What :func:`services_from_env` found."""

    #: The configured services, built but not opened, in the order redis, redis-stack,
    #: mongo, minio, http, queue.
    services: dict[str, Service[Any]] = field(default_factory=dict[str, Service[Any]])
    #: Configured services that could not be built (a bad value): a DOWN result each,
    #: naming the variable and what is wrong with it, never its value.
    broken: tuple[ServiceHealth, ...] = ()


def _config_problem(exc: ValidationError | _SettingsError, prefix: str) -> str:
    """What is wrong, naming the variables and never echoing a value (it may be a secret)."""
    if isinstance(exc, _SettingsError):
        # pydantic-settings could not decode a structured field's value (JSON expected).
        found = re.search(r'field "(\w+)"', str(exc))
        where = f"{prefix}{found[1].upper()}: " if found else ""
        return f"misconfigured: {where}cannot parse the value (expected JSON)"
    problems: list[str] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = "__".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{prefix}{where}: {message}" if where else message)
    return "misconfigured: " + "; ".join(problems)


def _rebased(env: Mapping[str, str], prefix: str, env_prefix: str) -> Mapping[str, str]:
    """The variables under ``prefix``, renamed to the config's own ``env_prefix``."""
    if prefix == env_prefix:
        return env
    return {
        env_prefix + key[len(prefix) :]: value
        for key, value in env.items()
        if key.upper().startswith(prefix)
    }


def services_from_env(environ: Mapping[str, str] | None = None) -> EnvServices:
    """The services whose ``ANYSERVICES_<SVC>_*`` variables are set in ``environ``
    (default ``os.environ``), each built by ``<Svc>Config.from_env(environ)``.

    A service counts as configured when ``ANYSERVICES_REDIS_URL`` or ``_HOST``,
    ``ANYSERVICES_REDIS_STACK_URL`` (a second Redis, read from the
    ``ANYSERVICES_REDIS_STACK_*`` variables), ``ANYSERVICES_MONGO_URL``,
    ``ANYSERVICES_MINIO_ENDPOINT``, ``ANYSERVICES_HTTP_BASE_URL``, or
    ``ANYSERVICES_QUEUE_NAME`` or ``_REDIS__URL`` or ``_REDIS__HOST`` (the job queue)
    is set. One whose variables do not validate is returned in ``broken``, never raised.
    """
    env = dict(os.environ if environ is None else environ)
    services: dict[str, Service[Any]] = {}
    broken: list[ServiceHealth] = []
    for name, prefix, keys, module_name, kind in _ENV_SERVICES:
        if not any(f"{prefix}{key}" in env for key in keys):
            continue
        target = f"{prefix}*"
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            problem = f"cannot import {module_name}: {exc}"
            broken.append(
                ServiceHealth(name, ok=False, latency_ms=None, error=problem, target=target)
            )
            continue
        try:
            config_class: type[ServiceConfig] = getattr(module, f"{kind}Config")
            config = config_class.from_env(_rebased(env, prefix, config_class.env_prefix))
        except (ValidationError, _SettingsError) as exc:
            problem = _config_problem(exc, prefix)
            broken.append(
                ServiceHealth(name, ok=False, latency_ms=None, error=problem, target=target)
            )
            continue
        services[name] = getattr(module, f"{kind}Service")(config)
    return EnvServices(services=services, broken=tuple(broken))


async def check_env_health(
    environ: Mapping[str, str] | None = None, *, deadline: float = 5.0
) -> HealthReport:
    """:func:`services_from_env` then :func:`check_health`; misconfigured services are
    in the report as DOWN, in the same order (redis, redis-stack, mongo, minio, http,
    queue)."""
    return await _check_env(services_from_env(environ), deadline)


async def _check_env(
    env: EnvServices, deadline: float, on_result: Callable[[ServiceHealth], object] | None = None
) -> HealthReport:
    report = await check_health(env.services, deadline=deadline, on_result=on_result)
    order = {entry[0]: index for index, entry in enumerate(_ENV_SERVICES)}
    merged = sorted(report.services + env.broken, key=lambda s: order.get(s.name, len(order)))
    return HealthReport(services=tuple(merged))


_NOTHING = (
    "no services configured: set ANYSERVICES_REDIS_URL, ANYSERVICES_REDIS_STACK_URL,\n"
    "ANYSERVICES_MONGO_URL, ANYSERVICES_MINIO_ENDPOINT, ANYSERVICES_HTTP_BASE_URL or\n"
    "ANYSERVICES_QUEUE_NAME (see docs/health.md)"
)


def main(deadline: float, *, as_json: bool = False) -> int:
    """``python -m anyservices health [--json]``: print the table (or, with ``as_json``,
    one JSON object: :meth:`HealthReport.to_json`); exit 0 if every configured service is
    up, 1 if one is down or misconfigured, 2 if none is configured."""
    if not deadline > 0:
        sys.stderr.write(f"--deadline must be a positive number of seconds, not {deadline}\n")
        return 2
    env = services_from_env()
    if not env.services and not env.broken:
        if as_json:
            nothing: dict[str, object] = {
                "ok": False,
                "summary": " ".join(_NOTHING.split()),
                "services": {},
            }
            sys.stdout.write(json.dumps(nothing) + "\n")
        else:
            sys.stdout.write(_NOTHING + "\n")
        return 2
    # A bar on a terminal (stderr) while the probes run; nothing otherwise: the report is
    # the output.
    with progress_bar("checking", unit="services", lines=False, transient=True) as bar:
        answered: list[ServiceHealth] = []

        def tell(result: ServiceHealth) -> None:
            answered.append(result)
            bar(len(answered), len(env.services))

        report = anyio.run(functools.partial(_check_env, env, deadline, tell))
    sys.stdout.write(
        report.to_json() + "\n" if as_json else f"{report.format_table()}\n{report.summary()}\n"
    )
    sys.stdout.flush()
    return 0 if report.ok else 1
