"""``python -m anyservices worker|info|dlq`` in process (the chaos tests run it as processes)."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from queue_support import cleanup, make_config

from anyservices.__main__ import main
from anyservices.queue import JobContext, QueueConfig, QueueService, Worker
from anyservices.redis import RedisConfig


def _install(config: QueueConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh ``queue_cli_app`` module (a service is entered once: one per command)."""
    queue = QueueService(config)

    @queue.task(name="cli.echo")
    async def echo(ctx: JobContext, payload: str) -> str:
        return payload

    module: Any = types.ModuleType("queue_cli_app")
    module.queue = queue
    module.worker = Worker(QueueService(config), [echo], concurrency=2, handle_signals=False)
    monkeypatch.setitem(sys.modules, "queue_cli_app", module)


@pytest.fixture
def config(redis_config: RedisConfig) -> Iterator[QueueConfig]:
    cfg = make_config(redis_config)
    yield cfg
    anyio.run(cleanup, cfg)


def _enqueue(config: QueueConfig, *names: str) -> None:
    async def run() -> None:
        async with QueueService(config) as queue:
            for name in names:
                await queue.enqueue(name, "x")

    anyio.run(run)


def test_worker_info_and_dlq(
    config: QueueConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*argv: str) -> str:
        _install(config, monkeypatch)
        assert main(list(argv)) == 0
        return capsys.readouterr().out

    _enqueue(config, "cli.echo", "cli.echo", "cli.unknown")
    assert "  waiting: 3" in run("info", "queue_cli_app:queue")
    out = run("worker", "queue_cli_app:queue", "--burst", "--concurrency", "4")
    assert "succeeded 2" in out
    assert "dead 1" in out
    out = run("dlq", "list", "queue_cli_app:queue")
    assert "cli.unknown" in out
    assert "UnknownTask" in out
    assert "1 dead letter(s)" in out
    assert "requeued 1 dead letter(s)" in run("dlq", "requeue", "queue_cli_app:queue")
    _enqueue(config, "cli.echo")
    out = run("worker", "queue_cli_app:worker", "--burst", "--backend", "trio")
    assert "succeeded 1" in out  # this worker's tasks: echo only
    assert "dead 1" in out
