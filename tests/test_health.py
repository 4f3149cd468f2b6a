"""Unit tests of the health checker: fake services and a mock HTTP transport, no network."""

from __future__ import annotations

import importlib
import io
import json
import os
import runpy
import sys
import types
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import anyio
import anyio.lowlevel
import httpx
import pytest
from pydantic import SecretStr

from anyservices import __main__ as cli
from anyservices import health
from anyservices._core._config import ServiceConfig
from anyservices._core._errors import AnyServicesError
from anyservices._core._service import Service, State, shielded
from anyservices.health import (
    EnvServices,
    HealthReport,
    ServiceHealth,
    check_env_health,
    check_health,
    services_from_env,
)
from anyservices.http import HttpConfig, HttpService, RetryPolicy
from anyservices.queue import QueueConfig, QueueService
from anyservices.redis import RedisConfig, RedisService

# check_health is async: its tests run on both event loops. Its sync entry point is
# main() (the CLI), tested by the plain tests at the end, which run in the sync session.
pytestmark = pytest.mark.faces("asyncio", "trio")

Probe = Callable[[], Awaitable[bool]]


class FakeConfig(ServiceConfig):
    env_prefix = "ANYSERVICES_FAKE_"
    host: str = "fake.invalid"
    password: SecretStr | None = None


class FakeError(AnyServicesError):
    pass


async def _answers_yes() -> bool:
    await anyio.lowlevel.checkpoint()
    return True


class FakeService(Service[FakeConfig]):
    """Records its lifecycle in ``log``; ``probe`` asks the given question."""

    service_name = "fake"

    def __init__(
        self,
        probe: Probe = _answers_yes,
        *,
        log: list[str] | None = None,
        open_error: Exception | None = None,
        host: str = "fake.invalid",
    ) -> None:
        super().__init__(FakeConfig(host=host, password=SecretStr("hunter2")))
        self.answer = probe
        self.log: list[str] = [] if log is None else log
        self.open_error = open_error

    def _describe(self) -> str:
        return f"fake://{self.config.host}"

    async def _open(self, stack: AsyncExitStack) -> None:
        stack.push_async_callback(shielded(self._close))
        await anyio.lowlevel.checkpoint()
        if self.open_error is not None:
            raise self.open_error
        self.log.append("open")

    async def _close(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.log.append("close")

    async def probe(self) -> None:
        self._check_open()
        self.log.append("ping")
        if not await self.answer():
            raise FakeError("ping() answered False")


class SilentService(Service[FakeConfig]):
    """The base probe: being open is all there is to ask."""

    service_name = "silent"


class HealthCheckedService(FakeService):
    """Has a health_check too: only the probe is asked."""

    async def health_check(self) -> bool:
        self.log.append("health_check")  # pragma: no cover -- never asked
        return False  # pragma: no cover


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ANYSERVICES_"):
            monkeypatch.delenv(key)


# -- check_health -------------------------------------------------------------------


async def test_results_keep_the_given_order_whoever_answers_first() -> None:
    last_answered = anyio.Event()

    async def slow() -> bool:
        await last_answered.wait()
        return True

    async def fast() -> bool:
        last_answered.set()
        return True

    report = await check_health(
        {"first": FakeService(slow), "second": FakeService(), "third": FakeService(fast)},
        deadline=5,
    )
    assert [s.name for s in report.services] == ["first", "second", "third"]
    assert report.ok
    assert all(s.error is None and s.target == "fake://fake.invalid" for s in report.services)


async def test_a_sequence_is_named_by_service_name() -> None:
    report = await check_health([FakeService(), SilentService(FakeConfig()), FakeService()])
    assert [s.name for s in report.services] == ["fake", "silent", "fake-2"]


async def test_probes_run_concurrently() -> None:
    # Each probe waits until the other one has started: run one after the other,
    # the first would wait until its deadline and be reported down.
    log: list[str] = []
    started = {"a": anyio.Event(), "b": anyio.Event()}

    def probe(me: str, other: str) -> Probe:
        async def run() -> bool:
            log.append(f"start {me}")
            started[me].set()
            await started[other].wait()
            log.append(f"end {me}")
            return True

        return run

    report = await check_health(
        {"a": FakeService(probe("a", "b")), "b": FakeService(probe("b", "a"))}, deadline=5
    )
    assert report.ok, report.format_table()
    assert sorted(log[:2]) == ["start a", "start b"]
    assert sorted(log[2:]) == ["end a", "end b"]


async def test_the_deadline_becomes_no_answer_within() -> None:
    log: list[str] = []

    async def never() -> bool:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    hung = FakeService(never, log=log)
    report = await check_health({"hung": hung, "fine": FakeService()}, deadline=0.05)
    hung_result, fine_result = report.services
    assert not hung_result.ok
    assert hung_result.error == "no answer within 0.05 s"
    assert hung_result.latency_ms is not None
    assert fine_result.ok  # a hung neighbour changes nothing for the others
    assert not report.ok
    assert report.down == ("hung",)
    # Opened by the checker, so closed by it too, deadline or not.
    assert log == ["open", "ping", "close"]
    assert hung.state is State.CLOSED


async def test_a_hung_open_is_bounded_by_the_deadline_too() -> None:
    class HangsOnOpen(FakeService):
        async def _open(self, stack: AsyncExitStack) -> None:
            await anyio.sleep_forever()

    service = HangsOnOpen()
    (result,) = (await check_health({"x": service}, deadline=0.05)).services
    assert result.error == "no answer within 0.05 s"
    assert service.state is State.CLOSED


async def test_a_failing_probe_is_down_with_a_one_line_message() -> None:
    async def fails() -> bool:
        raise FakeError("first line\n   second line", service="fake", operation="PING")

    async def refused() -> bool:
        raise ConnectionRefusedError(111, "Connection refused")

    async def long_story() -> bool:
        raise FakeError("x" * 1000)

    async def says_no() -> bool:
        return False

    report = await check_health(
        {
            "fails": FakeService(fails),
            "refused": FakeService(refused),
            "long": FakeService(long_story),
            "no": FakeService(says_no),
            "open": FakeService(open_error=FakeError("cannot connect to fake.invalid")),
        },
        deadline=5,
    )
    errors = {s.name: s.error for s in report.services}
    assert errors == {
        "fails": "FakeError: first line second line (service='fake', operation='PING')",
        "refused": "ConnectionRefusedError: [Errno 111] Connection refused",
        "long": "FakeError: " + "x" * 228 + "…",
        "no": "FakeError: ping() answered False",
        "open": "FakeError: cannot connect to fake.invalid",
    }
    assert all(len(e or "") <= 240 and "\n" not in (e or "") for e in errors.values())
    assert not any(s.ok for s in report.services)


async def test_an_error_that_is_not_a_service_error_propagates() -> None:
    async def buggy() -> bool:
        raise ZeroDivisionError

    log: list[str] = []
    with pytest.raises(ExceptionGroup) as caught:
        await check_health({"buggy": FakeService(buggy, log=log), "fine": FakeService()})
    assert caught.group_contains(ZeroDivisionError)
    assert log == ["open", "ping", "close"]


async def test_cancellation_is_not_swallowed() -> None:
    log: list[str] = []
    reached = False
    with anyio.CancelScope() as outer:

        async def cancels_the_caller() -> bool:
            outer.cancel()
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        await check_health({"x": FakeService(cancels_the_caller, log=log)}, deadline=30)
        reached = True
    assert outer.cancelled_caught
    assert not reached
    assert log == ["open", "ping", "close"]


async def test_a_new_service_is_opened_and_closed_by_the_checker() -> None:
    service = FakeService()
    (result,) = (await check_health({"x": service})).services
    assert result.ok
    assert service.log == ["open", "ping", "close"]
    assert service.state is State.CLOSED


async def test_an_open_service_is_probed_and_left_open() -> None:
    service = FakeService()
    async with service:
        (result,) = (await check_health({"x": service})).services
        assert result.ok
        assert service.state is State.OPEN
        assert service.log == ["open", "ping"]
    assert service.log == ["open", "ping", "close"]


async def test_a_closed_service_is_down() -> None:
    service = FakeService()
    async with service:
        pass
    (result,) = (await check_health({"x": service})).services
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("ServiceClosedError: FakeService is closed")


async def test_only_the_probe_is_asked_and_the_base_probe_checks_open() -> None:
    checked = HealthCheckedService()
    report = await check_health({"checked": checked, "silent": SilentService(FakeConfig())})
    assert [(s.ok, s.error) for s in report.services] == [(True, None), (True, None)]
    assert checked.log == ["open", "ping", "close"]


@pytest.mark.parametrize("deadline", [0, -1, float("nan")])
async def test_the_deadline_must_be_positive(deadline: float) -> None:
    with pytest.raises(ValueError, match="deadline"):
        await check_health([FakeService()], deadline=deadline)


async def test_no_services_is_an_empty_report() -> None:
    report = await check_health({})
    assert report == HealthReport(services=())
    assert report.ok


# -- the HTTP probe, over a mock transport --------------------------------------------


def _http(handler: Callable[[httpx.Request], httpx.Response]) -> HttpService:
    config = HttpConfig(
        base_url="http://user:hunter2@api.test/v1",
        bearer_token=SecretStr("hunter2"),
        health_path="/healthz",
        retry=RetryPolicy(max_attempts=5, backoff_base=0.001),
    )
    return HttpService(config, transport=httpx.MockTransport(handler))


async def test_http_probe_is_one_get_and_names_a_bad_status() -> None:
    seen: list[httpx.Request] = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)  # retryable for a plain GET, not for the probe

    def fine(request: httpx.Request) -> httpx.Response:
        return httpx.Response(204)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    report = await check_health(
        {"down": _http(unavailable), "up": _http(fine), "gone": _http(refused)}, deadline=5
    )
    down, up, gone = report.services
    assert len(seen) == 1
    assert seen[0].method == "GET"
    assert seen[0].url.path == "/v1/healthz"
    assert down.error is not None
    assert down.error.startswith("HttpCommandError: GET http://api.test/v1/healthz")
    assert "returned 503 Service Unavailable" in down.error
    assert up.ok
    assert up.target == "http://api.test/v1"
    assert gone.error is not None
    assert gone.error.startswith("HttpConnectError: cannot reach the server: Connection refused")
    assert "hunter2" not in report.format_table()


# -- the table ----------------------------------------------------------------------


def test_format_table_and_summary() -> None:
    report = HealthReport(
        services=(
            ServiceHealth("redis", ok=True, latency_ms=1.234, target="redis://h:6390/0"),
            ServiceHealth(
                "mongo-primary",
                ok=False,
                latency_ms=2000.04,
                error="no answer within 2 s",
                target="mongodb://h:27017",
            ),
            ServiceHealth(
                "http",
                ok=False,
                latency_ms=None,
                error="misconfigured: ANYSERVICES_HTTP_TIMEOUT: Input should be greater than 0",
                target="ANYSERVICES_HTTP_*",
            ),
        )
    )
    assert report.format_table().splitlines() == [
        "SERVICE        STATUS  LATENCY    TARGET / ERROR",
        "redis          up      1.2 ms     redis://h:6390/0",
        "mongo-primary  DOWN    2000.0 ms  mongodb://h:27017  no answer within 2 s",
        (
            "http           DOWN    -          ANYSERVICES_HTTP_*  misconfigured: "
            "ANYSERVICES_HTTP_TIMEOUT: Input should be greater than 0"
        ),
    ]
    assert report.summary() == "1 up, 2 down (mongo-primary, http)"
    assert report.down == ("mongo-primary", "http")
    assert not report.ok
    assert HealthReport(services=()).summary() == "0 up, 0 down"


def test_to_dict_and_to_json_mask_every_url() -> None:
    report = HealthReport(
        services=(
            ServiceHealth("redis", ok=True, latency_ms=1.23456, target="redis://h:6390/0"),
            ServiceHealth(
                "api",
                ok=False,
                latency_ms=2.5,
                error="HttpConnectError: cannot reach https://user:hunter2@api.test/x?token=t0k3n",
                target="https://user:hunter2@api.test",
            ),
            ServiceHealth("http", ok=False, latency_ms=None, error="misconfigured: x"),
        )
    )
    expected = {
        "ok": False,
        "summary": "1 up, 2 down (api, http)",
        "services": {
            "redis": {
                "ok": True,
                "reason": None,
                "elapsed_ms": 1.235,
                "target": "redis://h:6390/0",
            },
            "api": {
                "ok": False,
                "reason": "HttpConnectError: cannot reach https://***@api.test/x?token=***",
                "elapsed_ms": 2.5,
                "target": "https://***@api.test",
            },
            "http": {"ok": False, "reason": "misconfigured: x", "elapsed_ms": None, "target": ""},
        },
    }
    assert report.to_dict() == expected
    text = report.to_json()
    assert "\n" not in text
    assert "hunter2" not in text
    assert "t0k3n" not in text
    assert json.loads(text) == expected
    assert json.loads(HealthReport(services=()).to_json()) == {
        "ok": True,
        "summary": "0 up, 0 down",
        "services": {},
    }


def test_an_error_without_a_target_has_no_leading_blanks() -> None:
    report = HealthReport((ServiceHealth("x", ok=False, latency_ms=0.5, error="boom"),))
    assert report.format_table().splitlines()[1] == "x        DOWN    0.5 ms   boom"


# -- services_from_env --------------------------------------------------------------


def test_services_from_env_reads_the_given_mapping_only(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANYSERVICES_MONGO_URL", "mongodb://127.0.0.1:27017")
    monkeypatch.setenv("ANYSERVICES_HTTP_TIMEOUT", "99")
    found = services_from_env(
        {
            "ANYSERVICES_REDIS_URL": "redis://:hunter2@10.1.2.3:6390/3",
            "ANYSERVICES_HTTP_BASE_URL": "http://api.test",
            "ANYSERVICES_HTTP_RETRY__MAX_ATTEMPTS": "7",
            "anyservices_http_user_agent": "lower-case works too",
            "PATH": "/usr/bin",
        }
    )
    assert found.broken == ()
    assert list(found.services) == ["redis", "http"]
    redis_config = found.services["redis"].config
    assert isinstance(redis_config, RedisConfig)
    assert (redis_config.host, redis_config.port, redis_config.db) == ("10.1.2.3", 6390, 3)
    http_config = found.services["http"].config
    assert isinstance(http_config, HttpConfig)
    assert http_config.base_url == "http://api.test"
    assert http_config.retry.max_attempts == 7
    assert http_config.user_agent == "lower-case works too"
    assert http_config.timeout == 10.0  # os.environ's 99 was not read
    assert all(s.state is State.NEW for s in found.services.values())  # built, not opened


def test_services_from_env_defaults_to_os_environ(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert services_from_env() == EnvServices()
    monkeypatch.setenv("ANYSERVICES_MINIO_ENDPOINT", "127.0.0.1:9010")
    monkeypatch.setenv("ANYSERVICES_MINIO_SECRET_KEY", "hunter2")
    monkeypatch.setenv("ANYSERVICES_MONGO_URL", "mongodb://127.0.0.1:27030")
    found = services_from_env()
    assert list(found.services) == ["mongo", "minio"]
    assert found.services["minio"].config.secret_key.get_secret_value() == "hunter2"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"ANYSERVICES_REDIS_HOST": "h", "ANYSERVICES_REDIS_PORT": "abc"},
            "misconfigured: ANYSERVICES_REDIS_PORT: Input should be a valid integer",
        ),
        (
            {"ANYSERVICES_HTTP_BASE_URL": "http://x", "ANYSERVICES_HTTP_RETRY__MAX_ATTEMPTS": "0"},
            (
                "misconfigured: ANYSERVICES_HTTP_RETRY__MAX_ATTEMPTS: "
                "Input should be greater than or equal to 1"
            ),
        ),
        (
            {"ANYSERVICES_HTTP_BASE_URL": "ftp://user:hunter2@x"},
            "misconfigured: ANYSERVICES_HTTP_BASE_URL: must be an http:// or https:// URL",
        ),
        (
            {"ANYSERVICES_REDIS_URL": "ftp://user:hunter2@x/0"},
            "misconfigured: ANYSERVICES_REDIS_URL: the scheme must be redis://, rediss://",
        ),
        (
            {"ANYSERVICES_REDIS_URL": "redis://:pa/hunter2pw@h/0"},  # a "/" in the password
            "misconfigured: ANYSERVICES_REDIS_URL: ",
        ),
        (
            {"ANYSERVICES_MONGO_URL": "http://user:hunter2@x"},
            "misconfigured: ANYSERVICES_MONGO_URL: must be a mongodb:// or mongodb+srv:// URL",
        ),
        (
            {"ANYSERVICES_HTTP_BASE_URL": "http://x", "ANYSERVICES_HTTP_HEADERS": "hunter2"},
            "misconfigured: ANYSERVICES_HTTP_HEADERS: cannot parse the value (expected JSON)",
        ),
    ],
)
def test_a_bad_value_is_reported_naming_the_variable_never_the_value(
    environ: dict[str, str], expected: str
) -> None:
    found = services_from_env({**environ, "ANYSERVICES_MINIO_ENDPOINT": "127.0.0.1:9010"})
    assert list(found.services) == ["minio"]  # the others are still built
    (broken,) = found.broken
    assert not broken.ok
    assert broken.latency_ms is None
    assert broken.error is not None
    assert broken.error.startswith(expected), broken.error
    assert "hunter2" not in broken.error
    assert "'pa'" not in broken.error
    assert "pa/" not in broken.error
    assert broken.target == f"ANYSERVICES_{broken.name.upper()}_*"


def test_redis_stack_is_a_second_redis_read_from_its_own_variables() -> None:
    found = services_from_env(
        {
            "ANYSERVICES_REDIS_URL": "redis://127.0.0.1:6390/0",
            "ANYSERVICES_REDIS_STACK_URL": "redis://10.0.0.9:6391/2",
            "ANYSERVICES_REDIS_STACK_PASSWORD": "hunter2",
            "anyservices_redis_stack_socket_timeout": "7",
        }
    )
    assert found.broken == ()
    assert list(found.services) == ["redis", "redis-stack"]
    plain, stack = found.services["redis"], found.services["redis-stack"]
    assert isinstance(plain, RedisService)
    assert isinstance(stack, RedisService)
    assert (plain.config.port, plain.config.password) == (6390, None)  # STACK_* not read
    assert (stack.config.host, stack.config.port, stack.config.db) == ("10.0.0.9", 6391, 2)
    assert stack.config.password is not None
    assert stack.config.password.get_secret_value() == "hunter2"
    assert stack.config.socket_timeout == 7


def test_a_bad_redis_stack_value_names_its_own_variable() -> None:
    found = services_from_env({"ANYSERVICES_REDIS_STACK_URL": "ftp://user:hunter2@x/0"})
    assert found.services == {}
    (broken,) = found.broken
    assert broken.name == "redis-stack"
    assert broken.target == "ANYSERVICES_REDIS_STACK_*"
    assert broken.error is not None
    assert broken.error.startswith("misconfigured: ANYSERVICES_REDIS_STACK_URL: the scheme")
    assert "hunter2" not in broken.error


@pytest.mark.parametrize(
    "environ",
    [
        {"ANYSERVICES_QUEUE_NAME": "media"},
        {"ANYSERVICES_QUEUE_REDIS__URL": "redis://127.0.0.1:6390/1"},
        {"ANYSERVICES_QUEUE_REDIS__HOST": "127.0.0.1"},
    ],
)
def test_the_job_queue_is_built_from_its_variables(environ: dict[str, str]) -> None:
    found = services_from_env(environ)
    assert found.broken == ()
    (queue,) = found.services.values()
    assert list(found.services) == ["queue"]
    assert isinstance(queue, QueueService)
    assert queue.config == QueueConfig.from_env(environ)


def test_a_bad_queue_value_names_its_variable() -> None:
    found = services_from_env({"ANYSERVICES_QUEUE_NAME": "no spaces allowed"})
    (broken,) = found.broken
    assert (broken.name, broken.target) == ("queue", "ANYSERVICES_QUEUE_*")
    assert broken.error == (
        "misconfigured: ANYSERVICES_QUEUE_NAME: the name must be 1-100 letters, digits or _ . : -"
    )


async def test_check_env_health_reports_misconfigured_services_in_order() -> None:
    report = await check_env_health(
        {"ANYSERVICES_HTTP_BASE_URL": "ftp://x", "ANYSERVICES_REDIS_URL": "ftp://x"}
    )
    assert [(s.name, s.ok) for s in report.services] == [("redis", False), ("http", False)]


async def test_checked_and_misconfigured_services_merge_in_env_order() -> None:
    def broken(name: str) -> ServiceHealth:
        return ServiceHealth(name, ok=False, latency_ms=None, error="misconfigured: x")

    env = EnvServices(
        services={"queue": FakeService(), "http": FakeService(), "mongo": FakeService()},
        broken=(broken("minio"), broken("redis-stack"), broken("redis")),
    )
    report = await health._check_env(env, deadline=5)
    assert [(s.name, s.ok) for s in report.services] == [
        ("redis", False),
        ("redis-stack", False),
        ("mongo", True),
        ("minio", False),
        ("http", True),
        ("queue", True),
    ]


# -- main and the CLI -----------------------------------------------------------------


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, Service[FakeConfig]]:
    """What services_from_env returns in main: fill it in the test."""
    services: dict[str, Service[FakeConfig]] = {}

    def from_env(environ: object = None) -> EnvServices:
        del environ
        return EnvServices(services=dict(services))

    monkeypatch.setattr(health, "services_from_env", from_env)
    return services


def test_main_exits_0_when_all_are_up(
    fake_env: dict[str, Service[FakeConfig]], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_env["one"] = FakeService()
    fake_env["two"] = FakeService(host="two.invalid")
    assert health.main(deadline=5) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["SERVICE", "STATUS", "LATENCY", "TARGET", "/", "ERROR"]
    assert out[1].split()[:2] == ["one", "up"]
    assert out[2].split()[-1] == "fake://two.invalid"
    assert out[-1] == "2 up, 0 down"


def test_main_exits_1_when_one_is_down(
    fake_env: dict[str, Service[FakeConfig]], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_env["ok"] = FakeService()
    fake_env["bad"] = FakeService(open_error=ConnectionRefusedError("refused"))
    assert health.main(deadline=5) == 1
    out = capsys.readouterr().out
    assert "\nbad      DOWN    " in out
    assert "ConnectionRefusedError: refused" in out
    assert out.endswith("1 up, 1 down (bad)\n")


def test_main_prints_one_json_object_with_the_table_s_exit_codes(
    fake_env: dict[str, Service[FakeConfig]], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_env["one"] = FakeService()
    assert cli.main(["health", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    assert out.count("\n") == 1
    data = json.loads(out)
    assert data["ok"] is True
    assert data["summary"] == "1 up, 0 down"
    assert list(data["services"]) == ["one"]
    one = data["services"]["one"]
    assert (one["ok"], one["reason"], one["target"]) == (True, None, "fake://fake.invalid")
    assert isinstance(one["elapsed_ms"], float)
    fake_env["one"] = FakeService()  # the first check closed the first one
    fake_env["bad"] = FakeService(open_error=ConnectionRefusedError("refused"))
    assert cli.main(["health", "--json", "--deadline", "3"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert data["services"]["bad"]["reason"] == "ConnectionRefusedError: refused"
    assert data["services"]["one"]["ok"] is True


def test_main_json_when_nothing_is_configured(
    clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert health.main(deadline=5, as_json=True) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert data["services"] == {}
    assert data["summary"].startswith("no services configured: set ANYSERVICES_REDIS_URL, ")
    assert "ANYSERVICES_QUEUE_NAME" in data["summary"]


def test_main_exits_2_when_nothing_is_configured(
    clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert health.main(deadline=5) == 2
    assert capsys.readouterr().out.startswith("no services configured")


def test_main_exits_1_on_a_misconfigured_service_without_a_traceback(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANYSERVICES_REDIS_URL", "rediss://user:hunter2@x:notaport/0")
    assert cli.main(["health"]) == 1
    captured = capsys.readouterr()
    assert (
        "redis    DOWN    -        ANYSERVICES_REDIS_*  misconfigured: ANYSERVICES_REDIS_URL: "
        in captured.out
    )
    assert captured.out.endswith("0 up, 1 down (redis)\n")
    assert captured.err == ""
    assert "hunter2" not in captured.out


def test_main_refuses_a_deadline_that_is_not_positive(
    fake_env: dict[str, Service[FakeConfig]], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_env["one"] = FakeService()
    assert cli.main(["health", "--deadline", "0"]) == 2
    assert "--deadline must be a positive number" in capsys.readouterr().err


def test_a_service_whose_driver_cannot_be_imported_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.import_module

    def without_minio(name: str) -> types.ModuleType:
        if name == "anyservices.minio":
            raise ImportError("No module named 'minio'")
        return real(name)

    monkeypatch.setattr(health, "importlib", types.SimpleNamespace(import_module=without_minio))
    found = services_from_env(
        {"ANYSERVICES_MINIO_ENDPOINT": "127.0.0.1:9010", "ANYSERVICES_REDIS_HOST": "h"}
    )
    assert list(found.services) == ["redis"]
    (broken,) = found.broken
    assert broken.name == "minio"
    assert broken.error == "cannot import anyservices.minio: No module named 'minio'"


# -- the other commands: each is handed to its module -----------------------------------


def test_the_commands_are_handed_to_their_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    from anyservices import _demo  # noqa: PLC0415 -- only this test needs them
    from anyservices.queue import _cli  # noqa: PLC0415

    calls: list[tuple[str, object]] = []

    def record(name: str, code: int) -> Callable[..., int]:
        def called(*args: object, **kwargs: object) -> int:
            calls.append((name, (args, kwargs)))
            return code

        return called

    monkeypatch.setattr(_demo, "run_demo", record("demo", 3))
    monkeypatch.setattr(_cli, "worker_main", record("worker", 4))
    monkeypatch.setattr(_cli, "info_main", record("info", 5))
    monkeypatch.setattr(_cli, "dlq_main", record("dlq", 6))
    assert cli.main(["demo"]) == 3
    assert cli.main(["demo", "--face", "trio", "--face", "sync", "--no-start"]) == 3
    assert cli.main(["worker", "pkg.mod:queue", "--concurrency", "2", "--burst"]) == 4
    assert cli.main(["info", "pkg.mod:queue"]) == 5
    assert cli.main(["dlq", "requeue", "pkg.mod:queue", "1-0", "2-0"]) == 6
    assert calls == [
        ("demo", ((), {"faces": ["asyncio", "trio", "sync"], "start_servers": True})),
        ("demo", ((), {"faces": ["trio", "sync"], "start_servers": False})),
        (
            "worker",
            (("pkg.mod:queue",), {"concurrency": 2, "burst": True, "backend": "asyncio"}),
        ),
        ("info", (("pkg.mod:queue",), {})),
        ("dlq", (("pkg.mod:queue", "requeue", ["1-0", "2-0"]), {})),
    ]


def test_python_dash_m_runs_main(
    fake_env: dict[str, Service[FakeConfig]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_env["one"] = FakeService()
    monkeypatch.setattr(sys, "argv", ["python -m anyservices", "health", "--json"])
    monkeypatch.delitem(sys.modules, "anyservices.__main__")  # runpy runs a fresh copy
    # Our pytest11 plugin makes pytest rewrite the package's asserts; its import hook has
    # no get_code(), which runpy needs: let the regular finders load the module.
    hooks = [hook for hook in sys.meta_path if type(hook).__name__ != "AssertionRewritingHook"]
    monkeypatch.setattr(sys, "meta_path", hooks)
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("anyservices.__main__", run_name="__main__")
    assert exited.value.code == 0
    assert json.loads(capsys.readouterr().out)["summary"] == "1 up, 0 down"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_main_shows_a_bar_while_probing_and_erases_it(
    fake_env: dict[str, Service[FakeConfig]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    fake_env["one"] = FakeService()
    fake_env["two"] = FakeService()
    assert health.main(deadline=5) == 0
    drawn = terminal.getvalue()
    assert "checking" in drawn
    assert "services" in drawn
    assert "\x1b[2K" in drawn  # erased when done (transient)
    assert capsys.readouterr().out.endswith("2 up, 0 down\n")  # the report is unchanged
