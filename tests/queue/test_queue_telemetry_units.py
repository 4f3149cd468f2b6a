"""The worker's metrics helper (_core/_telemetry.WorkerTelemetry) without a server."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from anyservices._core import _gauges, _telemetry
from anyservices._core._telemetry import NOOP, WorkerTelemetry


def _forget_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("tracer_provider", None), ("meter_provider", None), ("settled", False)):
        monkeypatch.setattr(_telemetry._providers, name, value)


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def test_without_a_provider_nothing_is_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    _forget_providers(monkeypatch)
    monkeypatch.setattr(trace, "get_tracer_provider", trace.NoOpTracerProvider)
    monkeypatch.setattr(metrics, "get_meter_provider", metrics.NoOpMeterProvider)
    _telemetry.refresh()
    worker = WorkerTelemetry("orders")
    assert not worker.measuring()  # so the worker never reads the depth
    worker.count("succeeded", "bill")  # nothing to count with: no error either
    assert worker.operation("process", "orders") is NOOP


def test_outcomes_are_counted_and_each_live_worker_reports_its_depth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _forget_providers(monkeypatch)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    monkeypatch.setattr(trace, "get_tracer_provider", trace.NoOpTracerProvider)
    monkeypatch.setattr(metrics, "get_meter_provider", lambda: provider)
    _telemetry.refresh()
    first, second = WorkerTelemetry("orders"), WorkerTelemetry("mail")
    _gauges.track(first)  # as their workers do while they run
    _gauges.track(second)
    assert first.measuring()
    assert second.measuring()  # binds: the second gauge registration is the first's
    first.count("retried", "bill")
    first.count("retried", "bill")
    second.count("dead", "send")
    first.depth = {"waiting": 3, "dead": 1}
    second.depth = {"waiting": 7}
    counted = {
        (p.attributes["messaging.destination.name"], p.attributes["anyservices.queue.outcome"]): (
            p.value
        )
        for p in _points(reader, "anyservices.queue.jobs")
    }
    assert counted == {("orders", "retried"): 2, ("mail", "dead"): 1}
    depth = {
        (p.attributes["messaging.destination.name"], p.attributes["anyservices.queue.state"]): (
            p.value
        )
        for p in _points(reader, "anyservices.queue.depth")
    }
    assert depth == {("orders", "waiting"): 3, ("orders", "dead"): 1, ("mail", "waiting"): 7}
    del second
    gc.collect()
    gone = {
        p.attributes["messaging.destination.name"]
        for p in _points(reader, "anyservices.queue.depth")
    }
    assert gone == {"orders"}  # a worker gone is no longer reported
    provider.shutdown()
