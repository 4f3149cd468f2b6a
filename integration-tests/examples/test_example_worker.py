"""examples/worker_deploy: the Procfile's command runs a worker; SIGTERM lets its job finish.

The worker is the CLI (``python -m anyservices worker ...``) exactly as the Procfile says,
on asyncio and on trio; the enqueuer runs on every face. The systemd unit must stop the
worker with SIGTERM and wait longer than the grace period before it kills.
"""

from __future__ import annotations

import configparser
import shlex
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import anyio
import pytest
from example_support import ROOT, running
from examples.worker_deploy.tasks import Thumbnail, make_thumbnail

from anyservices.queue import JobState, QueueConfig, QueueService
from anyservices.testing import Face, open_face

DEPLOY = ROOT / "examples" / "worker_deploy"
GRACE_SECONDS = 10
#: The worker's event loop per enqueuer face: the sync face's jobs go to a trio worker.
WORKER_BACKEND = {"asyncio": "asyncio", "trio": "trio", "sync": "trio"}


def procfile_command() -> list[str]:
    """The Procfile's worker command, run with this interpreter."""
    (line,) = (DEPLOY / "Procfile").read_text().splitlines()
    kind, _, command = line.partition(":")
    assert kind == "worker"
    program, *args = shlex.split(command)
    assert program == "python"
    return [sys.executable, *args]


def test_systemd_unit_waits_longer_than_the_grace_period() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign] # keys are case-sensitive
    unit.read(DEPLOY / "anyservices-worker.service")
    service = unit["Service"]
    assert service["KillSignal"] == "SIGTERM"
    grace = QueueConfig().shutdown_grace_seconds  # the unit relies on the default
    assert int(service["TimeoutStopSec"]) > grace
    assert service["ExecStart"].endswith(" ".join(procfile_command()[1:]))


@pytest.fixture
def worker_env(redis_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A queue of this test's own, on the local Redis, with a short grace period."""
    unique = uuid.uuid4().hex[:12]
    env = {
        "ANYSERVICES_QUEUE_NAME": f"thumbnails-{unique}",
        "ANYSERVICES_QUEUE_REDIS__URL": redis_env["ANYSERVICES_REDIS_URL"],
        "ANYSERVICES_QUEUE_REDIS__NAMESPACE": f"example-{unique}",
        "ANYSERVICES_QUEUE_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def worker(face: Face, worker_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """The Procfile's worker, on the event loop ``WORKER_BACKEND`` gives for this face."""
    with running([*procfile_command(), "--backend", WORKER_BACKEND[face]], worker_env) as process:
        yield process


async def test_worker_runs_jobs_and_stops_on_sigterm(
    face: Face, worker: subprocess.Popen[str]
) -> None:
    async with open_face(face, QueueService(QueueConfig.from_env())) as queue:
        quick = await queue.enqueue(make_thumbnail, Thumbnail(url="/a.png", width=64))
        assert await quick.result(timeout=30) == "/a.png?width=64"

        # A job still running when SIGTERM comes finishes within the grace period.
        slow = await queue.enqueue(make_thumbnail, Thumbnail(url="/b.png", width=32, seconds=2))
        with anyio.fail_after(30):
            while (await slow.info()).state is not JobState.RUNNING:  # noqa: ASYNC110 -- polls Redis
                await anyio.sleep(0.02)
        worker.send_signal(signal.SIGTERM)
        assert await slow.result(timeout=GRACE_SECONDS + 5) == "/b.png?width=32"
        output, _ = await anyio.to_thread.run_sync(lambda: worker.communicate(timeout=30))
        assert worker.returncode == 0, output
        assert "succeeded 2" in output, output
        assert "released 0" in output, output  # no job was cut short and requeued
        health = await queue.health()
        assert (health.waiting, health.running) == (0, 0)
