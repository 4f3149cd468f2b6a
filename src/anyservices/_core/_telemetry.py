"""OpenTelemetry spans and metrics: the one instrumentation module of every service.

Each service builds one :class:`Telemetry` (``redis_telemetry(...)`` and friends name the
semantic-convention attributes) and wraps its ONE boundary in
``with telemetry.operation(name, target):``: Redis where a command is issued, Mongo and
MinIO around the worker-thread call, HTTP around each attempt's send. An operation is a
CLIENT span (the current span while it runs, so sync-face calls, which the portal runs
in a copy of the caller's context, are children of the caller's span), a duration
histogram entry and an in-flight count. Attributes never hold a value, a document, a
message or a secret: names, the collection or bucket, the address, the masked URL, and
``error.type``, the qualified name of our error class.

Cost: with ``opentelemetry`` not installed, ``operation()`` returns a shared no-op at
once. Installed but without a configured provider, it looks for one at most every
``RECHECK_SECONDS`` (OpenTelemetry sets each global provider once per process, so a
provider once seen is kept) and otherwise returns the same no-op.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from time import monotonic
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

from ._secrets import mask_url

if TYPE_CHECKING:  # checked as installed; at run time the names exist only if they are
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import (
        Counter,
        Histogram,
        MeterProvider,
        UpDownCounter,
    )
    from opentelemetry.metrics._internal import _ProxyMeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    INSTALLED: bool
else:
    try:
        from opentelemetry import context as otel_context
        from opentelemetry import metrics, trace
        from opentelemetry.metrics._internal import (  # the unset placeholder: no public name
            _ProxyMeterProvider,
        )
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:  # the extra is not installed: every operation is the no-op
        INSTALLED = False
    else:
        INSTALLED = True

__all__ = (
    "RECHECK_SECONDS",
    "Telemetry",
    "WorkerTelemetry",
    "http_attributes",
    "http_telemetry",
    "job_attributes",
    "mongo_telemetry",
    "queue_telemetry",
    "redis_telemetry",
    "refresh",
    "s3_telemetry",
    "traceparent",
)

AttributeValue = str | int | float | bool
Attributes = Mapping[str, AttributeValue]

#: How often an operation looks for a provider while none is configured.
RECHECK_SECONDS: Final = 1.0
_SCOPE: Final = "anyservices"
_IN_FLIGHT: Final = "anyservices.client.active_operations"
# Too many distinct values for a metric attribute (kept on spans only).
_SPAN_ONLY: Final = frozenset({"url.full", "messaging.message.id", "anyservices.queue.attempt"})
_CLIENT_ERROR: Final = 400
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class _Providers:
    """The process's configured providers, once seen (None: not yet, or no-op)."""

    __slots__ = ("generation", "meter_provider", "next_check", "settled", "tracer_provider")

    def __init__(self) -> None:
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        self.generation = 0  # bumped when a provider is found: services rebind
        self.next_check = 0.0
        self.settled = not INSTALLED  # nothing left to look for


_providers = _Providers()


def _unset_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    if not INSTALLED:
        return (), ()
    return (
        (trace.ProxyTracerProvider, trace.NoOpTracerProvider),
        (_ProxyMeterProvider, metrics.NoOpMeterProvider),
    )


_UNSET_TRACERS, _UNSET_METERS = _unset_types()


def refresh() -> None:
    """Look for configured providers now (call it right after configuring OpenTelemetry
    if services already ran; otherwise they find it within ``RECHECK_SECONDS``)."""
    _providers.next_check = 0.0
    _discover()


def _discover() -> None:
    state = _providers
    now = monotonic()
    if state.settled or now < state.next_check:
        return
    state.next_check = now + RECHECK_SECONDS
    if state.tracer_provider is None:
        found = trace.get_tracer_provider()
        if not isinstance(found, _UNSET_TRACERS):
            state.tracer_provider = found
            state.generation += 1
    if state.meter_provider is None:
        meters = metrics.get_meter_provider()
        if not isinstance(meters, _UNSET_METERS):
            state.meter_provider = meters
            state.generation += 1
    state.settled = state.tracer_provider is not None and state.meter_provider is not None


def error_type(error: type[BaseException]) -> str:
    """``error.type``: the error class's qualified name (``anyservices.redis.RedisError``)."""
    return f"{error.__module__}.{error.__qualname__}"


class _NoOp:
    """What ``operation()`` returns when nothing records: one shared, reusable instance."""

    __slots__ = ()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Ignored."""

    def set_status_code(self, status: int) -> None:
        """Ignored."""

    def fail(self, kind: str) -> None:
        """Ignored."""


NOOP: Final = _NoOp()


class Telemetry:
    """One service's instrumentation: its constant attributes, tracer and instruments.

    ``name_key`` is the attribute the operation name goes to (``db.operation.name``),
    ``target_key`` the one ``target`` goes to (``db.collection.name``), ``namer`` turns
    what the call site passes as the name into text (only when something records).
    """

    __slots__ = (
        "_active",
        "_duration",
        "_generation",
        "_live",
        "_tracer",
        "attributes",
        "duration_name",
        "kind",
        "name_key",
        "namer",
        "service",
        "target_key",
    )

    def __init__(
        self,
        service: str,
        attributes: Attributes,
        *,
        name_key: str,
        target_key: str | None = None,
        duration_name: str,
        namer: Callable[[Any], str] = str,
        kind: str = "CLIENT",
    ) -> None:
        self.service = service
        self.kind = kind  # a SpanKind name
        self.attributes: dict[str, AttributeValue] = dict(attributes)
        self.name_key = name_key
        self.target_key = target_key
        self.duration_name = duration_name
        self.namer = namer
        self._generation = 0
        self._live = False
        self._tracer: Tracer | None = None
        self._duration: Histogram | None = None
        self._active: UpDownCounter | None = None

    def __repr__(self) -> str:
        return f"<Telemetry {self.service} recording={self._live}>"

    def _bind(self) -> None:
        """Take the tracer and instruments of the providers found (rarely: once, mostly)."""
        state = _providers
        self._generation = state.generation
        self._tracer = None
        self._duration = self._active = None
        if state.tracer_provider is not None:
            self._tracer = state.tracer_provider.get_tracer(_SCOPE)
        if state.meter_provider is not None:
            meter = state.meter_provider.get_meter(_SCOPE)
            self._duration = meter.create_histogram(
                self.duration_name, unit="s", description="Duration of client operations."
            )
            self._active = meter.create_up_down_counter(
                _IN_FLIGHT, unit="{operation}", description="Client operations in flight."
            )
        self._live = self._tracer is not None or self._duration is not None

    def _recording(self) -> bool:
        state = _providers
        if not state.settled and monotonic() >= state.next_check:
            _discover()
        if self._generation != state.generation:
            self._bind()
        return self._live

    def start(
        self, name: object, target: str | None = None, attributes: Attributes | None = None
    ) -> _Operation | None:
        """The hot path's form (Redis): a started operation to ``end()``, or None.

        ``None`` when nothing records; cheaper than a ``with`` block around the call.
        """
        state = _providers  # _recording(), inlined: one call less per Redis command
        if not state.settled and monotonic() >= state.next_check:
            _discover()
        if self._generation != state.generation:
            self._bind()
        if not self._live:
            return None
        return _Operation(self, self.namer(name), target, attributes, current=True).__enter__()

    def start_batch(self, names: Sequence[object]) -> _Batch | None:
        """A started span per command of a batch sent together, or None."""
        if not self._recording():
            return None
        return _Batch([_Operation(self, self.namer(n), None, None, current=False) for n in names])

    def operation(
        self,
        name: object,
        target: str | None = None,
        attributes: Attributes | None = None,
        *,
        remote: str = "",
        retry: bool = False,
    ) -> _Operation | _NoOp:
        """A context manager timing (and tracing) one operation, or the no-op.

        ``remote`` is a W3C ``traceparent`` from elsewhere (a job's enqueuer): the span's
        parent, or with ``retry`` a link (a retry belongs to the trace that enqueued it).
        """
        if not self._recording():
            return NOOP
        operation = _Operation(self, self.namer(name), target, attributes, current=True)
        operation.remote, operation.retry = remote, retry
        return operation


class _Operation:
    __slots__ = (
        "_attributes",
        "_current",
        "_span",
        "_span_name",
        "_start",
        "_telemetry",
        "_token",
        "remote",
        "retry",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        name: str,
        target: str | None,
        attributes: Attributes | None,
        *,
        current: bool,
    ) -> None:
        self._telemetry = telemetry
        values = {**telemetry.attributes, telemetry.name_key: name}
        if target is not None and telemetry.target_key is not None:
            values[telemetry.target_key] = target
        if attributes:
            values.update(attributes)
        self._attributes = values
        self._span_name = name if target is None else f"{name} {target}"
        self._current = current
        self._span: Span | None = None
        self._token: object = None
        self._start = 0.0
        self.remote = ""
        self.retry = False

    def __enter__(self) -> Self:
        telemetry = self._telemetry
        tracer = telemetry._tracer  # noqa: SLF001 -- one module
        if tracer is not None:
            parent, links = None, None
            if self.remote:
                carrier = {"traceparent": self.remote}
                remote = TraceContextTextMapPropagator().extract(carrier)
                carried = trace.get_current_span(remote).get_span_context()
                if carried.is_valid:
                    if self.retry:  # a trace of its own, linked to the enqueue
                        parent, links = otel_context.Context(), [trace.Link(carried)]
                    else:
                        parent = remote
            span = self._span = tracer.start_span(
                self._span_name,
                context=parent,
                kind=trace.SpanKind[telemetry.kind],
                attributes=self._attributes,
                links=links,
            )
            if self._current:
                self._token = otel_context.attach(trace.set_span_in_context(span))
        if telemetry._active is not None:  # noqa: SLF001
            telemetry._active.add(1, telemetry.attributes)  # noqa: SLF001
        self._start = time.perf_counter()
        return self

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._attributes[key] = value
        if self._span is not None:
            self._span.set_attribute(key, value)

    def set_status_code(self, status: int) -> None:
        """``http.response.status_code``; 4xx and 5xx are errors typed by their code."""
        self.set_attribute("http.response.status_code", status)
        if status >= _CLIENT_ERROR:
            self.fail(str(status))

    def fail(self, kind: str) -> None:
        """Mark the operation failed (``error.type``), e.g. a job whose task raised."""
        self.set_attribute("error.type", kind)
        if self._span is not None:
            self._span.set_status(trace.StatusCode.ERROR, kind)

    def end(self, error: BaseException | None = None) -> None:
        """Record the duration and end the span; an Exception (not a cancellation) is an error."""
        if isinstance(error, Exception):
            self.fail(error_type(type(error)))  # not the message: it may quote a value
        elapsed = time.perf_counter() - self._start
        telemetry = self._telemetry
        if telemetry._duration is not None:  # noqa: SLF001 -- one module
            measured = {k: v for k, v in self._attributes.items() if k not in _SPAN_ONLY}
            telemetry._duration.record(elapsed, measured)  # noqa: SLF001
        if telemetry._active is not None:  # noqa: SLF001
            telemetry._active.add(-1, telemetry.attributes)  # noqa: SLF001
        if self._span is not None:
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
            self._span.end()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.end(exc)


class _Batch:
    """Commands sent together: a span each, started and ended together."""

    __slots__ = ("_operations",)

    def __init__(self, operations: list[_Operation]) -> None:
        self._operations = operations
        for operation in operations:
            operation.__enter__()

    def end(self, error: BaseException | None = None, replies: Iterable[object] = ()) -> None:
        """End every span; ``replies`` that are errors (they come back as values) mark theirs."""
        for operation, reply in zip(self._operations, replies, strict=False):
            if isinstance(reply, Exception):
                operation.fail(error_type(type(reply)))
        for operation in self._operations:
            operation.end(error)


# -- the services' attributes (OpenTelemetry semantic conventions) -------------------


def redis_telemetry(
    host: str, port: int, db: int, *, unix_socket: str | None, namer: Callable[[Any], str]
) -> Telemetry:
    """``db.system.name=redis``; ``namer`` gives a command's name from its arguments."""
    attributes: dict[str, AttributeValue] = {"db.system.name": "redis", "db.namespace": str(db)}
    if unix_socket:
        attributes |= {"server.address": unix_socket, "network.transport": "unix"}
    else:
        attributes |= {"server.address": host, "server.port": port}
    return Telemetry(
        "redis",
        attributes,
        name_key="db.operation.name",
        duration_name="db.client.operation.duration",
        namer=namer,
    )


def mongo_telemetry(safe_url: str, database: str) -> Telemetry:
    """``db.system.name=mongodb``; the first host of the (masked) URL is the server."""
    attributes: dict[str, AttributeValue] = {"db.system.name": "mongodb", "db.namespace": database}
    attributes.update(_server(safe_url))
    return Telemetry(
        "mongo",
        attributes,
        name_key="db.operation.name",
        target_key="db.collection.name",
        duration_name="db.client.operation.duration",
    )


def s3_telemetry(endpoint: str) -> Telemetry:
    """S3 calls (``rpc.system=aws-api``, ``rpc.service=S3``); the bucket, never the object."""
    attributes: dict[str, AttributeValue] = {"rpc.system": "aws-api", "rpc.service": "S3"}
    attributes.update(_server(endpoint))
    return Telemetry(
        "minio",
        attributes,
        name_key="rpc.method",
        target_key="aws.s3.bucket",
        duration_name="rpc.client.call.duration",
    )


def http_telemetry() -> Telemetry:
    """HTTP client spans named by method; ``http_attributes`` gives each request's rest."""
    return Telemetry(
        "http",
        {},
        name_key="http.request.method",
        duration_name="http.client.request.duration",
    )


def http_attributes(url: str, resend_count: int) -> dict[str, AttributeValue]:
    """``url.full`` (credentials and secret query values masked), ``server.*`` and the
    resend count of an attempt after the first."""
    full = mask_url(url)
    attributes: dict[str, AttributeValue] = {"url.full": full}
    attributes.update(_server(full))
    if "server.port" not in attributes:
        default = _DEFAULT_PORTS.get(full.partition("://")[0].lower())
        if default is not None:
            attributes["server.port"] = default
    if resend_count:
        attributes["http.request.resend_count"] = resend_count
    return attributes


def _queue_attributes(queue: str, operation: str) -> dict[str, AttributeValue]:
    return {
        "messaging.system": "anyservices",
        "messaging.destination.name": queue,
        "messaging.operation.type": operation,
    }


def queue_telemetry(queue: str, operation: str) -> Telemetry:
    """Job queue spans: ``send`` (PRODUCER, around enqueue) or ``process`` (CONSUMER, a run).

    Name them with ``operation(operation, queue, job_attributes(...))``: ``send orders``.
    """
    send = operation == "send"
    return Telemetry(
        "queue",
        _queue_attributes(queue, operation),
        name_key="messaging.operation.name",
        duration_name="messaging.client.operation.duration"
        if send
        else "messaging.process.duration",
        kind="PRODUCER" if send else "CONSUMER",
    )


def job_attributes(job_id: str, task: str, attempt: int | None = None) -> dict[str, AttributeValue]:
    """A job's id, its task's name and (when running) its attempt: never its payload."""
    attributes: dict[str, AttributeValue] = {
        "messaging.message.id": job_id,
        "anyservices.queue.task": task,
    }
    if attempt is not None:
        attributes["anyservices.queue.attempt"] = attempt
    return attributes


_JOBS: Final = "anyservices.queue.jobs"
_DEPTH: Final = "anyservices.queue.depth"


class WorkerTelemetry(Telemetry):
    """A worker's ``process`` spans and job durations (``queue_telemetry(queue, "process")``),
    a counter of its runs by outcome, and the queue's depth as it last read it (the worker
    tracks it in ``_gauges`` while it runs: the ``anyservices.queue.depth`` gauge)."""

    __slots__ = ("__weakref__", "_jobs", "depth")

    def __init__(self, queue: str) -> None:
        super().__init__(
            "queue",
            _queue_attributes(queue, "process"),
            name_key="messaging.operation.name",
            duration_name="messaging.process.duration",
            kind="CONSUMER",
        )
        self._jobs: Counter | None = None
        #: Jobs by state (waiting, running, delayed, dead) at the worker's last read.
        self.depth: dict[str, int] = {}

    def _bind(self) -> None:
        super()._bind()
        self._jobs = None
        provider = _providers.meter_provider
        if provider is not None:
            meter = provider.get_meter(_SCOPE)
            self._jobs = meter.create_counter(
                _JOBS, unit="{job}", description="Runs of jobs ended, by outcome."
            )

    def process(self, job_id: str, task: str, attempt: int, carried: str) -> _Operation | _NoOp:
        """The span of one run, ``process <queue>``: a child of ``carried`` (the enqueuer's
        ``traceparent``) on the first attempt, linked to it after; the no-op at once (its
        attributes unbuilt) when nothing records."""
        if not self._recording():
            return NOOP
        queue = str(self.attributes["messaging.destination.name"])
        attributes = job_attributes(job_id, task, attempt)
        return self.operation("process", queue, attributes, remote=carried, retry=attempt > 1)

    def measuring(self) -> bool:
        """Whether a meter records (the worker reads the queue's depth only then)."""
        return self._recording() and self._jobs is not None

    def _gauge_readings(self) -> list[tuple[str, int, dict[str, AttributeValue]]]:
        """The queue's depth by state, for ``_gauges`` (while its worker runs)."""
        queue = self.attributes["messaging.destination.name"]
        return [
            (
                _DEPTH,
                jobs,
                {
                    "messaging.system": "anyservices",
                    "messaging.destination.name": queue,
                    "anyservices.queue.state": state,
                },
            )
            for state, jobs in self.depth.items()
        ]

    def count(self, outcome: str, task: str) -> None:
        """A run of ``task`` ended: succeeded, failed, retried, dead, aborted, released or
        lost (fenced off)."""
        if self._recording() and self._jobs is not None:
            self._jobs.add(
                1,
                {
                    **self.attributes,
                    "anyservices.queue.task": task,
                    "anyservices.queue.outcome": outcome,
                },
            )


def traceparent() -> str:
    """The current span's W3C ``traceparent``, for a job to carry ('' when there is none)."""
    if not INSTALLED:
        return ""
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent", "")


def _server(url: str) -> dict[str, AttributeValue]:
    """``server.address`` and ``server.port`` of the first host in ``url`` (or ``host:port``)."""
    _, _, rest = url.rpartition("://")
    rest = rest.rpartition("@")[2]
    for stop in "/?#,":
        rest = rest.partition(stop)[0]
    host, colon, port = rest.rpartition(":") if not rest.endswith("]") else ("", "", "")
    if not colon or not port.isdigit():
        host, port = rest, ""
    attributes: dict[str, AttributeValue] = {"server.address": host.strip("[]")}
    if port:
        attributes["server.port"] = int(port)
    return attributes
