"""OpenTelemetry gauges: the open services' pools and worker threads, and queue depths.

What reports here is tracked while it lives: each open service (the lifecycle in
``_service.py`` adds it on open and removes it on close; its ``_gauges()`` reads the same
counters as ``statistics()``: Redis connections and replies awaited, the worker threads of
Mongo and MinIO) and each running worker's telemetry (the queue's depth by state, as the
worker last read it). A source gives ``(gauge, value, attributes)`` readings.

The instruments are observable: the SDK's reader calls back at each collection, from its
own thread, so an operation pays nothing for them. They are made once per meter provider,
when a source is tracked after the provider was configured. A service's attributes are
``anyservices.service`` (redis, mongo, ...) and ``anyservices.target``, its secret-free
description (the one its repr shows).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Final, Protocol

from ._telemetry import _SCOPE, _discover, _providers

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

    from ._telemetry import AttributeValue

__all__ = ("GAUGES", "Reading", "Source", "track", "untrack")

#: Each gauge's name, unit and description.
GAUGES: Final = {
    "anyservices.pool.connections": ("{connection}", "Open connections of a service."),
    "anyservices.pool.pending_replies": ("{reply}", "Replies awaited on a service's connections."),
    "anyservices.threads.in_use": ("{thread}", "Worker threads running a service's calls."),
    "anyservices.threads.waiting": ("{call}", "Calls waiting for a worker thread."),
    "anyservices.threads.limit": ("{thread}", "The most worker threads a service may use."),
    "anyservices.queue.depth": ("{job}", "Jobs of a queue by state, as its workers read them."),
}

Reading = tuple[str, int, Mapping[str, "AttributeValue"]]
"""One gauge's value for one source: ``(gauge name, value, attributes)``."""


class Source(Protocol):
    def _gauge_readings(self) -> Iterable[Reading]: ...


class _Tracked:
    __slots__ = ("lock", "provider", "sources")

    def __init__(self) -> None:
        self.lock = threading.Lock()  # the reader's thread iterates while loops add
        self.sources: weakref.WeakSet[Source] = weakref.WeakSet()
        self.provider: MeterProvider | None = None  # the one the gauges were made on


_tracked = _Tracked()


def track(source: Source) -> None:
    """Report ``source``'s readings until :func:`untrack` (or until it is collected)."""
    with _tracked.lock:
        _tracked.sources.add(source)
    _discover()
    provider = _providers.meter_provider
    if provider is not None and provider is not _tracked.provider:
        _make(provider)


def untrack(source: Source) -> None:
    with _tracked.lock:
        _tracked.sources.discard(source)


def _make(provider: MeterProvider) -> None:
    _tracked.provider = provider
    meter = provider.get_meter(_SCOPE)
    for name, (unit, description) in GAUGES.items():
        meter.create_observable_gauge(
            name, callbacks=[_observer(name)], unit=unit, description=description
        )


def _observer(name: str) -> Callable[[CallbackOptions], Iterator[Observation]]:
    from opentelemetry.metrics import Observation  # noqa: PLC0415 -- installed: a provider exists

    def observe(_options: CallbackOptions) -> Iterator[Observation]:
        with _tracked.lock:
            sources = list(_tracked.sources)
        for source in sources:
            for gauge, value, attributes in source._gauge_readings():  # noqa: SLF001 -- the sources' hook
                if gauge == name:
                    yield Observation(value, attributes)

    return observe
