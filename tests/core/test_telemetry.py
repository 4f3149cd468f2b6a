"""_core/_telemetry: the no-op paths (not installed, no provider) and what a span holds.

No network: providers are the SDK's in-memory ones, handed to the module through the
API's ``get_*_provider`` functions (monkeypatched), never set globally.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.metrics._internal import _ProxyMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from anyservices._core import _telemetry
from anyservices._core._telemetry import (
    NOOP,
    RECHECK_SECONDS,
    Telemetry,
    error_type,
    http_attributes,
    http_telemetry,
    mongo_telemetry,
    redis_telemetry,
    s3_telemetry,
)
from anyservices.redis import RedisResponseError


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class _Lookups:
    tracer_provider: Any
    meter_provider: Any
    tracers: int = 0
    meters: int = 0

    def tracer(self) -> Any:
        self.tracers += 1
        return self.tracer_provider

    def meter(self) -> Any:
        self.meters += 1
        return self.meter_provider


def _install(
    monkeypatch: pytest.MonkeyPatch, tracer_provider: Any, meter_provider: Any
) -> _Lookups:
    """Make the API report these providers, and the module look for them afresh."""
    lookups = _Lookups(tracer_provider, meter_provider)
    monkeypatch.setattr(trace, "get_tracer_provider", lookups.tracer)
    monkeypatch.setattr(metrics, "get_meter_provider", lookups.meter)
    state = _telemetry._providers
    for name, value in (
        ("tracer_provider", None),
        ("meter_provider", None),
        ("settled", False),
        ("next_check", 0.0),
    ):
        monkeypatch.setattr(state, name, value)
    return lookups


@dataclass
class _Sdk:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += list(metric.data.data_points)
        return found


def _sdk_providers() -> tuple[
    InMemorySpanExporter, TracerProvider, InMemoryMetricReader, MeterProvider
]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return exporter, tracer_provider, reader, MeterProvider(metric_readers=[reader])


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Sdk]:
    exporter, tracer_provider, reader, meter_provider = _sdk_providers()
    _install(monkeypatch, tracer_provider, meter_provider)
    yield _Sdk(exporter, reader, tracer_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def _redis() -> Telemetry:
    return redis_telemetry("127.0.0.1", 6390, 2, unix_socket=None, namer=lambda a: str(a[0]))


def _attrs(item: Any) -> dict[str, Any]:
    """A span's or a data point's attributes as a plain dict."""
    return dict(item.attributes or {})


def _settled() -> bool:
    return _telemetry._providers.settled


class _Stop(BaseException):
    """Stands in for a cancellation: not an Exception, so not an error."""


# -- the no-op paths ------------------------------------------------------------------


def test_without_opentelemetry_every_operation_is_the_shared_noop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails as if absent
    path = _telemetry.__file__
    spec = importlib.util.spec_from_file_location("anyservices._core._telemetry_absent", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.INSTALLED is False
    assert module._providers.settled is True
    assert module._unset_types() == ((), ())
    telemetry = module.redis_telemetry("h", 1, 0, unix_socket=None, namer=str)
    with telemetry.operation(("GET", "k")) as operation:
        operation.set_attribute("x", 1)
        operation.set_status_code(500)
        operation.fail("ValueError")
    assert telemetry.operation(("GET", "k")) is module.NOOP
    assert telemetry.start(("GET", "k")) is None
    assert telemetry.start_batch([("GET", "k")]) is None
    module.refresh()
    assert repr(telemetry) == "<Telemetry redis recording=False>"


def test_without_a_provider_it_is_the_noop_and_looks_again_only_after_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _Clock()
    monkeypatch.setattr(_telemetry, "monotonic", clock)
    lookups = _install(monkeypatch, trace.ProxyTracerProvider(), _ProxyMeterProvider())
    telemetry = _redis()
    assert telemetry.operation(("GET", "k")) is NOOP
    assert telemetry.start_batch([("GET", "k")]) is None
    assert telemetry.start(("GET", "k")) is None
    assert (lookups.tracers, lookups.meters) == (1, 1)
    clock.now += RECHECK_SECONDS / 2
    assert telemetry.operation(("GET", "k")) is NOOP
    assert (lookups.tracers, lookups.meters) == (1, 1)  # not looked up on every call
    clock.now += RECHECK_SECONDS
    assert telemetry.operation(("GET", "k")) is NOOP
    assert (lookups.tracers, lookups.meters) == (2, 2)


def test_an_explicit_noop_provider_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, trace.NoOpTracerProvider(), metrics.NoOpMeterProvider())
    assert _redis().operation(("GET", "k")) is NOOP


def test_a_provider_configured_later_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(_telemetry, "monotonic", clock)
    lookups = _install(monkeypatch, trace.ProxyTracerProvider(), _ProxyMeterProvider())
    telemetry = _redis()
    assert telemetry.operation(("GET", "k")) is NOOP
    exporter, tracer_provider, _, meter_provider = _sdk_providers()
    lookups.tracer_provider, lookups.meter_provider = tracer_provider, meter_provider
    assert telemetry.operation(("GET", "k")) is NOOP  # within RECHECK_SECONDS
    _telemetry.refresh()  # at once
    with telemetry.operation(("GET", "k")):
        pass
    assert [span.name for span in exporter.get_finished_spans()] == ["GET"]
    assert _telemetry._providers.settled
    looked = lookups.tracers
    clock.now += 10 * RECHECK_SECONDS
    with telemetry.operation(("GET", "k")):
        pass
    assert lookups.tracers == looked  # both found: never looked up again
    assert repr(telemetry) == "<Telemetry redis recording=True>"


# -- what is recorded -------------------------------------------------------------------


def test_an_operation_is_a_client_span_current_while_it_runs(sdk: _Sdk) -> None:
    telemetry = mongo_telemetry("mongodb://***@db1:27017,db2:27018/?replicaSet=rs", "app")
    inner = sdk.tracer_provider.get_tracer("test")
    with telemetry.operation("find_one", "users") as operation:
        with inner.start_as_current_span("driver"):
            pass
        operation.set_attribute("db.response.returned_rows", 1)
    driver, span = sdk.finished()
    assert span.name == "find_one users"
    assert span.kind is trace.SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "db.system.name": "mongodb",
        "db.namespace": "app",
        "server.address": "db1",
        "server.port": 27017,
        "db.operation.name": "find_one",
        "db.collection.name": "users",
        "db.response.returned_rows": 1,
    }
    assert driver.parent is not None
    context = span.get_span_context()
    assert context is not None
    assert driver.parent.span_id == context.span_id
    assert span.status.status_code is StatusCode.UNSET
    (point,) = sdk.points("db.client.operation.duration")
    assert point.count == 1
    assert point.attributes["db.collection.name"] == "users"
    (active,) = sdk.points("anyservices.client.active_operations")
    assert active.value == 0


def test_an_error_is_typed_by_our_class_and_its_message_is_left_out(sdk: _Sdk) -> None:
    telemetry = _redis()
    secret = "the-value-42"
    with pytest.raises(RedisResponseError), telemetry.operation(("INCR", "k")):
        raise RedisResponseError(f"ERR {secret} is not an integer", service="redis")
    (span,) = sdk.finished()
    expected = "anyservices.redis.RedisResponseError"
    assert (span.attributes or {})["error.type"] == expected
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == expected
    assert secret not in repr(span.to_json())
    assert not span.events  # no exception event: its message could quote a value
    (point,) = sdk.points("db.client.operation.duration")
    assert point.attributes["error.type"] == expected


def test_a_cancellation_is_no_error(sdk: _Sdk) -> None:
    with pytest.raises(_Stop), _redis().operation(("GET", "k")):
        raise _Stop
    (span,) = sdk.finished()
    assert "error.type" not in (span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET


def test_in_flight_counts_while_an_operation_runs(sdk: _Sdk) -> None:
    telemetry = _redis()
    with telemetry.operation(("GET", "k")), telemetry.operation(("GET", "j")):
        (active,) = sdk.points("anyservices.client.active_operations")
        assert active.value == 2
        assert active.attributes["server.port"] == 6390
    (active,) = sdk.points("anyservices.client.active_operations")
    assert active.value == 0


def test_a_batch_has_a_span_per_command_and_marks_error_replies(sdk: _Sdk) -> None:
    telemetry = _redis()
    outer = sdk.tracer_provider.get_tracer("test")
    with outer.start_as_current_span("request") as request:
        batch = telemetry.start_batch([("SET", "a"), ("INCR", "a")])
        assert batch is not None
        batch.end(replies=["OK", RedisResponseError("ERR not an integer", service="redis")])
        for error in (_Stop(), ValueError("lost")):
            batch = telemetry.start_batch([("GET", "a")])
            assert batch is not None
            batch.end(error)
    spans = {span.name + str(index): span for index, span in enumerate(sdk.finished())}
    assert list(spans) == ["SET0", "INCR1", "GET2", "GET3", "request4"]
    for span in list(spans.values())[:4]:
        assert span.parent is not None
        assert span.parent.span_id == request.get_span_context().span_id
    assert "error.type" not in (spans["SET0"].attributes or {})
    assert _attrs(spans["INCR1"])["error.type"].endswith("RedisResponseError")
    assert "error.type" not in (spans["GET2"].attributes or {})
    assert (spans["GET3"].attributes or {})["error.type"] == "builtins.ValueError"
    (points,) = [sdk.points("db.client.operation.duration")]
    assert sum(point.count for point in points) == 4


def test_the_hot_path_form_starts_an_operation_to_end(sdk: _Sdk) -> None:
    telemetry = _redis()
    inner = sdk.tracer_provider.get_tracer("test")
    operation = telemetry.start(("GET", "k"))
    assert operation is not None
    with inner.start_as_current_span("inside"):
        pass
    operation.end(RedisResponseError("ERR", service="redis"))
    inside, span = sdk.finished()
    assert span.name == "GET"
    assert inside.parent is not None
    context = span.get_span_context()
    assert context is not None
    assert inside.parent.span_id == context.span_id  # current until ended
    assert _attrs(span)["error.type"] == "anyservices.redis.RedisResponseError"
    assert not trace.get_current_span().get_span_context().is_valid  # no longer current


def test_http_spans_hold_the_masked_url_and_the_status(sdk: _Sdk) -> None:
    telemetry = http_telemetry()
    url = "https://user:hunter2@api.example.com/v1/items?token=abc&page=2"
    with telemetry.operation("GET", None, http_attributes(url, 0)) as operation:
        operation.set_status_code(200)
    with telemetry.operation("POST", None, http_attributes("http://h:8080/x", 2)) as operation:
        operation.set_status_code(503)
    ok, failed = sdk.finished()
    assert ok.name == "GET"
    assert dict(ok.attributes or {}) == {
        "http.request.method": "GET",
        "url.full": "https://***@api.example.com/v1/items?token=***&page=2",
        "server.address": "api.example.com",
        "server.port": 443,
        "http.response.status_code": 200,
    }
    assert "hunter2" not in repr(ok.to_json())
    assert ok.status.status_code is StatusCode.UNSET
    attributes = dict(failed.attributes or {})
    assert attributes["error.type"] == "503"
    assert attributes["http.request.resend_count"] == 2
    assert attributes["server.port"] == 8080
    assert failed.status.status_code is StatusCode.ERROR
    points = sdk.points("http.client.request.duration")
    assert {point.attributes["http.request.method"] for point in points} == {"GET", "POST"}
    assert all("url.full" not in point.attributes for point in points)  # too many values


@pytest.mark.parametrize("found", ["tracer", "meter"])
def test_one_provider_found_is_kept_and_the_other_still_looked_for(
    monkeypatch: pytest.MonkeyPatch, found: str
) -> None:
    clock = _Clock()
    monkeypatch.setattr(_telemetry, "monotonic", clock)
    _, tracer_provider, _, meter_provider = _sdk_providers()
    _, other_tracers, _, other_meters = _sdk_providers()
    if found == "tracer":
        lookups = _install(monkeypatch, tracer_provider, _ProxyMeterProvider())
    else:
        lookups = _install(monkeypatch, trace.ProxyTracerProvider(), meter_provider)
    telemetry = _redis()
    with telemetry.operation(("GET", "k")):
        pass
    state = _telemetry._providers
    assert not _settled()
    # Later both report others: the one found is kept, the missing one is taken.
    lookups.tracer_provider, lookups.meter_provider = other_tracers, other_meters
    clock.now += 2 * RECHECK_SECONDS
    with telemetry.operation(("GET", "k")):
        pass
    assert _settled()
    if found == "tracer":
        assert (state.tracer_provider, state.meter_provider) == (tracer_provider, other_meters)
    else:
        assert (state.tracer_provider, state.meter_provider) == (other_tracers, meter_provider)


def test_only_a_tracer_or_only_a_meter(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter, tracer_provider, reader, meter_provider = _sdk_providers()
    _install(monkeypatch, tracer_provider, _ProxyMeterProvider())
    with s3_telemetry("127.0.0.1:9010").operation("put_object", "photos"):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.name == "put_object photos"
    assert (span.attributes or {})["aws.s3.bucket"] == "photos"
    assert (span.attributes or {})["rpc.method"] == "put_object"
    _install(monkeypatch, trace.ProxyTracerProvider(), meter_provider)
    with (
        pytest.raises(KeyError),
        http_telemetry().operation("GET", None, http_attributes("ftp://h/x", 0)) as operation,
    ):
        operation.set_status_code(404)
        raise KeyError("k")
    assert len(exporter.get_finished_spans()) == 1  # no new span
    data = reader.get_metrics_data()
    assert data is not None
    (metric,) = [
        m
        for r in data.resource_metrics
        for s in r.scope_metrics
        for m in s.metrics
        if m.name == "http.client.request.duration"
    ]
    (point,) = metric.data.data_points
    assert "server.port" not in _attrs(point)  # no default port for ftp
    assert _attrs(point)["error.type"] == "builtins.KeyError"  # the raise comes last


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9010", {"server.address": "127.0.0.1", "server.port": 9010}),
        ("mongodb+srv://***@cluster.example.com/db", {"server.address": "cluster.example.com"}),
        ("mongodb://[::1]:27017/?x=1", {"server.address": "::1", "server.port": 27017}),
        ("mongodb://[::1]/db", {"server.address": "::1"}),
        ("host:notaport", {"server.address": "host:notaport"}),
    ],
)
def test_the_server_of_an_address(text: str, expected: dict[str, object]) -> None:
    assert _telemetry._server(text) == expected


def test_redis_over_a_unix_socket() -> None:
    telemetry = redis_telemetry("h", 1, 0, unix_socket="/run/redis.sock", namer=str)
    assert telemetry.attributes == {
        "db.system.name": "redis",
        "db.namespace": "0",
        "server.address": "/run/redis.sock",
        "network.transport": "unix",
    }


def test_error_type_is_the_qualified_class_name() -> None:
    assert error_type(RedisResponseError) == "anyservices.redis.RedisResponseError"
    assert error_type(TimeoutError) == "builtins.TimeoutError"


# -- the job queue's helpers (the queue stores ``traceparent()`` with a job) ------------


def test_a_job_carries_the_enqueuers_context_its_first_run_is_a_child(sdk: _Sdk) -> None:
    send = _telemetry.queue_telemetry("orders", "send")
    process = _telemetry.queue_telemetry("orders", "process")
    outer = sdk.tracer_provider.get_tracer("test")
    assert _telemetry.traceparent() == ""  # no current span
    job = _telemetry.job_attributes("j1", "bill")
    with outer.start_as_current_span("checkout"), send.operation("send", "orders", job):
        carried = _telemetry.traceparent()
    assert carried.startswith("00-")
    with process.operation(
        "process", "orders", _telemetry.job_attributes("j1", "bill", 1), remote=carried
    ):
        pass
    with process.operation(
        "process", "orders", _telemetry.job_attributes("j1", "bill", 2), remote=carried, retry=True
    ):
        pass
    sent, checkout, first, retried = sdk.finished()
    assert sent.name == "send orders"
    assert sent.kind is trace.SpanKind.PRODUCER
    assert _attrs(sent) == {
        "messaging.system": "anyservices",
        "messaging.destination.name": "orders",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.message.id": "j1",
        "anyservices.queue.task": "bill",
    }
    sent_context = sent.get_span_context()
    assert sent_context is not None
    assert first.kind is trace.SpanKind.CONSUMER
    assert first.parent is not None
    assert first.parent.span_id == sent_context.span_id  # a child of the enqueue
    assert first.parent.is_remote
    assert _attrs(first)["anyservices.queue.attempt"] == 1
    assert retried.parent is None  # a trace of its own ...
    (link,) = retried.links  # ... linked to the enqueue
    assert link.context.span_id == sent_context.span_id
    assert checkout.name == "checkout"
    assert sdk.points("messaging.client.operation.duration")
    assert sdk.points("messaging.process.duration")


def test_a_broken_traceparent_is_ignored(sdk: _Sdk) -> None:
    process = _telemetry.queue_telemetry("orders", "process")
    with process.operation("process", "orders", remote="00-not-a-trace"):
        pass
    (span,) = sdk.finished()
    assert span.parent is None
    assert not span.links


def test_without_opentelemetry_there_is_no_traceparent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_telemetry, "INSTALLED", False)
    assert _telemetry.traceparent() == ""
