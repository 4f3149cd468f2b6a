"""The OpenTelemetry SDK's in-memory exporters, handed to anyservices for one test.

A plain module at the root of integration-tests (its conftest puts this folder on the
path, so every folder's tests can import it): the tests import ``otel`` from here. The SDK
providers are given through the API's ``get_*_provider`` functions (monkeypatched) and
never set globally, so every test starts from nothing and no state leaks between tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, Tracer

from anyservices._core import _telemetry


@dataclass
class Recorded:
    """What one test's services recorded."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer: Tracer

    def children(self, parent: Span | ReadableSpan) -> list[ReadableSpan]:
        """The finished spans whose parent is ``parent``, in the order they ended."""
        context = parent.get_span_context()
        assert context is not None
        wanted = context.span_id
        return [
            span
            for span in self.exporter.get_finished_spans()
            if span.parent is not None and span.parent.span_id == wanted
        ]

    def finished(self, name: str) -> list[ReadableSpan]:
        """The finished spans named ``name``, in the order they ended."""
        return [span for span in self.exporter.get_finished_spans() if span.name == name]

    def points(self, name: str) -> list[Any]:
        """The data points of metric ``name``."""
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]


def attrs(item: Any) -> dict[str, Any]:
    """A span's or data point's attributes as a plain dict."""
    return dict(item.attributes or {})


def assert_no_value_in(spans: list[ReadableSpan], *values: str) -> None:
    """No attribute, event or status of ``spans`` holds any of ``values``."""
    for span in spans:
        text = span.to_json()
        for value in values:
            assert value not in text, (value, span.name)


@pytest.fixture
def otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: tracer_provider)
    monkeypatch.setattr(metrics, "get_meter_provider", lambda: meter_provider)
    state = _telemetry._providers
    for name, value in (("tracer_provider", None), ("meter_provider", None), ("settled", False)):
        monkeypatch.setattr(state, name, value)
    _telemetry.refresh()
    yield Recorded(exporter, reader, tracer_provider.get_tracer("tests"))
    tracer_provider.shutdown()
    meter_provider.shutdown()
