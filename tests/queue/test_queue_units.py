"""Queue pieces without a server: config, retry delays, codecs, errors, scripts' loading."""

from __future__ import annotations

import pickle
import sys
import types
from typing import Any

import anyio
import pytest
from pydantic import BaseModel, ValidationError

from anyservices.queue import (
    JobContext,
    JobFailedError,
    QueueConfig,
    QueueDataError,
    QueueService,
    Retry,
    Task,
    Worker,
    _cli,
    _scripts,
)
from anyservices.queue._errors import map_errors
from anyservices.queue._events import ResultWatch
from anyservices.queue._service import _delay_ms
from anyservices.redis import RedisResponseError


class Point(BaseModel):
    x: int


def test_config_defaults_and_validation() -> None:
    config = QueueConfig(name="media")
    assert (config.lease_seconds, config.result_ttl_seconds, config.max_deliveries) == (
        15,
        3600,
        10,
    )
    assert config.retry == Retry()
    with pytest.raises(ValidationError, match="name"):
        QueueConfig(name="has space")
    with pytest.raises(ValidationError, match="lease_seconds"):
        QueueConfig(lease_seconds=0)
    with pytest.raises(ValidationError, match="attempts"):
        Retry(attempts=0)


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYSERVICES_QUEUE_NAME", "from-env")
    monkeypatch.setenv("ANYSERVICES_QUEUE_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("ANYSERVICES_QUEUE_REDIS__PORT", "6391")
    config = QueueConfig.from_env()
    assert (config.name, config.lease_seconds, config.redis.port) == ("from-env", 2.5, 6391)


def test_retry_delays_use_full_jitter_under_the_cap() -> None:
    retry = Retry(attempts=100, backoff=1.0, max_backoff=8.0)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (90, 8.0)):
        delays = [retry.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # spread over the range, not a fixed wait
    assert Retry(backoff=0).delay(5) == 0


def test_delays_and_times() -> None:
    assert _delay_ms(None, None) == 0
    assert _delay_ms(-3, None) == 0
    assert _delay_ms(0.0001, None) == 1
    assert _delay_ms(1.5, None) == 1500


def test_map_errors_names_fields_never_values() -> None:
    with (
        pytest.raises(QueueDataError, match=r"bad fields: x") as caught,
        map_errors("it", operation="t"),
    ):
        Point.model_validate({"x": "secret-value"})
    assert "secret-value" not in str(caught.value)
    with (
        pytest.raises(QueueDataError, match="cannot be encoded as JSON"),
        map_errors("it", operation="t"),
    ):
        raise TypeError("no")


def test_job_failed_error_pickles_with_its_details() -> None:
    error = JobFailedError("m", error_type="E", error_message="msg", attempts=3, resource="j")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.error_type, copy.error_message, copy.attempts, copy.resource) == (
        "E",
        "msg",
        3,
        "j",
    )


def test_tasks_check_their_shape_and_names() -> None:
    queue = QueueService(QueueConfig(name="units"))

    @queue.task()
    async def default_name(ctx: JobContext, payload: Point) -> int:
        return payload.x

    assert default_name.name.endswith(
        "test_tasks_check_their_shape_and_names.<locals>.default_name"
    )
    assert repr(default_name).startswith("<Task ")
    assert default_name.retry == queue.config.retry
    assert default_name.decode_payload(default_name.encode_payload(Point(x=2))) == Point(x=2)

    untyped: Any = eval("lambda ctx, payload: payload")  # noqa: S307 -- a function without annotations
    loose: Task[Any, Any] = queue.task("untyped")(untyped)
    assert loose.decode_payload('{"any": 1}') == {"any": 1}
    with pytest.raises(ValueError, match="registered already"):
        queue.task("untyped")(untyped)
    one_argument: Any = eval("lambda ctx: ctx")  # noqa: S307 -- a task of the wrong shape
    with pytest.raises(TypeError, match=r"must take \(ctx, payload\)"):
        queue.task("one")(one_argument)
    with pytest.raises(ValueError, match="timeout must be positive"):
        queue.task("t", timeout=0)(untyped)
    with pytest.raises(ValueError, match="concurrency"):
        Worker(queue, concurrency=0)
    assert "units" in repr(Worker(queue))
    assert "units on redis://" in repr(queue)


async def test_progress_checks_the_fraction() -> None:
    seen: list[tuple[float, str]] = []

    async def report(fraction: float, message: str) -> None:
        seen.append((fraction, message))

    ctx = JobContext("j", "t", 1, report)
    assert repr(ctx) == "<JobContext t j attempt 1>"
    await ctx.progress(0.25)
    await ctx.progress(1.0, "done")
    with pytest.raises(ValueError, match="between"):
        await ctx.progress(1.5)
    assert seen == [(0.25, ""), (1.0, "done")]


class _FakeRedis:
    def __init__(self, error: str) -> None:
        self.error = error
        self.calls: list[tuple[Any, ...]] = []

    async def execute_command(self, *args: Any) -> Any:
        self.calls.append(args)
        if args[0] == "EVALSHA" and len(self.calls) == 1:
            raise RedisResponseError(self.error, service="redis", operation="EVALSHA")
        return "ok"


async def test_scripts_load_once_when_the_server_does_not_know_them() -> None:
    fake = _FakeRedis("NOSCRIPT No matching script")
    assert await _scripts.run(fake, _scripts.HEALTH, ["k"], [1]) == "ok"  # type: ignore[arg-type]
    assert [c[0] for c in fake.calls] == ["EVALSHA", "SCRIPT", "EVALSHA"]
    broken = _FakeRedis("ERR something else")
    with pytest.raises(RedisResponseError, match="something else"):
        await _scripts.run(broken, _scripts.HEALTH, ["k"], [1])  # type: ignore[arg-type]


async def test_result_watch_ignores_foreign_messages() -> None:
    watch = ResultWatch(None, "c")  # type: ignore[arg-type]
    event = watch.register("j")
    for data in ("not json", "[1]", '{"job_id": "other", "state": "succeeded"}',
                 '{"job_id": "j", "state": "running"}'):  # fmt: skip
        watch._dispatch(data)
    assert not event.is_set()
    watch._dispatch('{"job_id": "j", "state": "failed"}')
    assert event.is_set()
    watch.unregister("j", event)
    watch.unregister("j", event)
    assert watch._waiting == {}
    await anyio.lowlevel.checkpoint()


def test_cli_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("queue_cli_target")
    module.queue = QueueService(QueueConfig(name="cli"))  # type: ignore[attr-defined]
    module.holder = types.SimpleNamespace(worker=Worker(module.queue))  # type: ignore[attr-defined]
    module.other = 5  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "queue_cli_target", module)
    assert _cli.load_target("queue_cli_target:queue") is module.queue
    assert isinstance(_cli.load_target("queue_cli_target:holder.worker"), Worker)
    with pytest.raises(SystemExit, match="not a QueueService"):
        _cli.load_target("queue_cli_target:other")
    with pytest.raises(SystemExit, match=r"expected package\.module:attribute"):
        _cli.load_target("no-colon")
