"""The queue's spans and metrics on every face (the SDK's in-memory exporters).

A job carries its enqueuer's trace context: the worker's first run is a CONSUMER span
``process <queue>`` whose parent is the enqueue's PRODUCER span ``send <queue>``, a
retry is a trace of its own linked to it. The worker counts runs by outcome, times
them (``messaging.process.duration``) and reports the queue's depth as a gauge.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, StatusCode
from queue_support import Calls, Tasks, cleanup, define, make_config, wait_for, worker_for

from anyservices.queue import JobContext, JobFailedError, QueueConfig, QueueService
from anyservices.redis import RedisConfig
from anyservices.testing import Face, open_face
from otel_support import Recorded, attrs, otel

__all__ = ("otel",)


@pytest.fixture
async def config(redis_config: RedisConfig) -> AsyncIterator[QueueConfig]:
    cfg = make_config(redis_config, lease_seconds=0.6)
    yield cfg
    await cleanup(cfg)


def _context(span: ReadableSpan) -> SpanContext:
    context = span.get_span_context()
    assert context is not None
    return context


def _of_job(spans: list[ReadableSpan], job_id: str) -> list[ReadableSpan]:
    """The job's spans, in the order of their attempts."""
    mine = [span for span in spans if attrs(span).get("messaging.message.id") == job_id]
    return sorted(mine, key=lambda span: attrs(span).get("anyservices.queue.attempt", 0))


def _spanned(seen: dict[str, SpanContext]) -> Callable[[QueueService, Tasks], None]:
    """A worker set-up adding a plain-function task ``spanned`` that records, by job, the
    span current in its worker thread."""

    def setup(queue: QueueService, tasks: Tasks) -> None:
        @queue.task(name="spanned")
        def spanned(ctx: JobContext, payload: str) -> str:
            seen[ctx.job_id] = trace.get_current_span().get_span_context()
            return payload

    return setup


async def test_a_first_run_is_a_child_of_its_enqueue(
    face: Face, config: QueueConfig, otel: Recorded
) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    seen: dict[str, SpanContext] = {}
    async with open_face(face, QueueService(config)) as queue:
        tasks = define(queue)
        async with worker_for(config, setup=_spanned(seen)):  # outside any span
            with otel.tracer.start_as_current_span("request") as request:
                echoed = await queue.enqueue(tasks.echo, secret)
                threaded = await queue.enqueue("spanned", secret)
            assert await echoed.result(timeout=10) == secret
            assert await threaded.result(timeout=10) == secret
    sends, processed = otel.finished(f"send {config.name}"), otel.finished(f"process {config.name}")
    request_context = request.get_span_context()
    for handle, task in ((echoed, "echo"), (threaded, "spanned")):
        (send,) = _of_job(sends, handle.id)
        (process,) = _of_job(processed, handle.id)
        assert send.kind is SpanKind.PRODUCER
        assert send.parent is not None
        assert send.parent.span_id == request_context.span_id
        assert process.kind is SpanKind.CONSUMER
        assert process.parent is not None
        assert process.parent.span_id == _context(send).span_id  # the child of the enqueue
        assert process.parent.is_remote
        assert _context(process).trace_id == request_context.trace_id
        assert not process.links
        assert process.status.status_code is StatusCode.UNSET
        assert attrs(process) == {
            "messaging.system": "anyservices",
            "messaging.destination.name": config.name,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.message.id": handle.id,
            "anyservices.queue.task": task,
            "anyservices.queue.attempt": 1,
            "anyservices.queue.outcome": "succeeded",
        }
        # The run's own Redis calls (its completion) are children of the process span.
        below = [s for s in otel.exporter.get_finished_spans() if s.parent == _context(process)]
        assert below
        assert all(_context(span).trace_id == request_context.trace_id for span in below)
    # A plain-function task's thread runs in the process span too.
    assert seen[threaded.id].span_id == _context(_of_job(processed, threaded.id)[0]).span_id
    for span in otel.exporter.get_finished_spans():  # no payload, no result in any span
        assert secret not in span.to_json(), span.name


async def test_a_retry_is_a_trace_of_its_own_linked_to_the_enqueue(
    face: Face, config: QueueConfig, otel: Recorded
) -> None:
    async with open_face(face, QueueService(config)) as queue, worker_for(config, Calls()):
        tasks = define(queue)
        with otel.tracer.start_as_current_span("request"):
            handle = await queue.enqueue(tasks.flaky, 1)  # the first attempt fails
        assert await handle.result(timeout=10) == 2
    (send,) = _of_job(otel.finished(f"send {config.name}"), handle.id)
    first, second = _of_job(otel.finished(f"process {config.name}"), handle.id)
    sent = _context(send)
    assert first.parent is not None
    assert first.parent.span_id == sent.span_id
    assert first.status.status_code is StatusCode.ERROR
    assert attrs(first)["error.type"] == "RuntimeError"
    assert attrs(first)["anyservices.queue.outcome"] == "retried"
    assert "attempt 1 fails" not in first.to_json()  # the type, never the message
    assert second.parent is None  # a trace of its own ...
    assert _context(second).trace_id != sent.trace_id
    (link,) = second.links  # ... linked to the enqueue
    assert link.context.span_id == sent.span_id
    assert link.context.trace_id == sent.trace_id
    assert attrs(second)["anyservices.queue.attempt"] == 2
    assert attrs(second)["anyservices.queue.outcome"] == "succeeded"
    assert second.status.status_code is StatusCode.UNSET


async def test_jobs_without_a_context_are_roots(
    face: Face, config: QueueConfig, otel: Recorded
) -> None:
    """A periodic job and a dead letter queued again carry no context: their runs are
    roots; a job enqueued outside any span is the child of its enqueue, a root."""

    def every_half_second(queue: QueueService, tasks: Tasks) -> None:
        queue.periodic(tasks.echo, "tick", every=0.5)

    async with (
        open_face(face, QueueService(config)) as queue,
        worker_for(config, Calls(), setup=every_half_second) as worker,
    ):
        with otel.tracer.start_as_current_span("request"):
            dead = await queue.enqueue("nosuch", 1)  # no worker knows it: a dead letter
        plain = await queue.enqueue("echo", "no span")
        assert await plain.result(timeout=10) == "no span"
        with pytest.raises(JobFailedError):
            await dead.result(timeout=10)
        assert await queue.requeue_dead() == 1
        await wait_for(lambda: worker.statistics().dead == 2)
        await wait_for(lambda: worker.statistics().succeeded >= 2)  # plain and a tick
    processed = otel.finished(f"process {config.name}")
    (carried, requeued) = _of_job(processed, dead.id)
    assert carried.parent is not None  # the first: the enqueue's child, dead
    assert attrs(carried)["error.type"] == "UnknownTask"
    assert attrs(carried)["anyservices.queue.outcome"] == "dead"
    assert requeued.parent is None  # queued again as a fresh job: no context
    assert not requeued.links
    assert attrs(requeued)["anyservices.queue.outcome"] == "dead"
    (alone,) = _of_job(processed, plain.id)  # its enqueue is a trace's root: its parent
    (send,) = _of_job(otel.finished(f"send {config.name}"), plain.id)
    assert send.parent is None
    assert alone.parent is not None
    assert alone.parent.span_id == _context(send).span_id
    ticks = [span for span in processed if attrs(span)["messaging.message.id"] not in {
        dead.id, plain.id}]  # fmt: skip
    assert ticks
    assert all(span.parent is None and not span.links for span in ticks)


def _by_task_and_outcome(points: list[Any], queue: str, field: str) -> dict[tuple[str, str], int]:
    return {
        (attrs(p)["anyservices.queue.task"], attrs(p)["anyservices.queue.outcome"]): getattr(
            p, field
        )
        for p in points
        if attrs(p)["messaging.destination.name"] == queue
    }


async def test_runs_are_counted_and_timed_by_outcome_and_the_depth_is_a_gauge(
    face: Face, config: QueueConfig, otel: Recorded
) -> None:
    def depth() -> dict[str, int]:
        return {
            attrs(point)["anyservices.queue.state"]: point.value
            for point in otel.points("anyservices.queue.depth")
            if attrs(point)["messaging.destination.name"] == config.name
        }

    async with open_face(face, QueueService(config)) as queue, worker_for(config, Calls()):
        tasks = define(queue)
        done = await queue.enqueue(tasks.echo, "x")
        flaky = await queue.enqueue(tasks.flaky, 5)  # fails its 3 attempts
        dead = await queue.enqueue("nosuch", 1)
        await queue.enqueue(tasks.echo, "later", delay=600)
        assert await done.result(timeout=10) == "x"
        for failing in (flaky, dead):
            with pytest.raises(JobFailedError):
                await failing.result(timeout=10)
        await wait_for(lambda: depth() == {"waiting": 0, "running": 0, "delayed": 1, "dead": 1})
    assert depth() == {}  # a stopped worker reports nothing
    expected = {
        ("echo", "succeeded"): 1,
        ("flaky", "retried"): 2,
        ("flaky", "failed"): 1,
        ("nosuch", "dead"): 1,
    }
    jobs = otel.points("anyservices.queue.jobs")
    assert _by_task_and_outcome(jobs, config.name, "value") == expected
    durations = otel.points("messaging.process.duration")
    assert _by_task_and_outcome(durations, config.name, "count") == expected
    for point in durations:  # one series per task and outcome: no job id, no attempt
        assert "messaging.message.id" not in attrs(point)
        assert "anyservices.queue.attempt" not in attrs(point)
    sends = otel.points("messaging.client.operation.duration")
    assert sum(p.count for p in sends if attrs(p)["messaging.destination.name"] == config.name) == 4
    assert all("messaging.message.id" not in attrs(point) for point in sends)
