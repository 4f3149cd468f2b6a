"""OpenTelemetry gauges of the open services' pools and worker threads.

Each open service is tracked here (the lifecycle in ``_service.py`` adds it on open and
removes it on close) and reports its current values through ``Service._gauges()``, read
from the same counters as ``statistics()``: Redis connections and replies awaited, the
worker threads of Mongo and MinIO (in use, callers waiting, the limiter's size).

The instruments are observable: the SDK's reader calls back at each collection, from its
own thread, so an operation pays nothing for them. They are made once per meter provider,
when a service opens after the provider was configured (``_telemetry.refresh()`` finds
one configured late). Attributes: ``anyservices.service`` (redis, mongo, ...) and
``anyservices.target``, the service's secret-free description (the one its repr shows).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from ._telemetry import _SCOPE, _discover, _providers

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

    from ._service import Service

__all__ = ("GAUGES", "track", "untrack")

#: Each gauge's name, unit and description.
GAUGES: Final = {
    "anyservices.pool.connections": ("{connection}", "Open connections of a service."),
    "anyservices.pool.pending_replies": ("{reply}", "Replies awaited on a service's connections."),
    "anyservices.threads.in_use": ("{thread}", "Worker threads running a service's calls."),
    "anyservices.threads.waiting": ("{call}", "Calls waiting for a worker thread."),
    "anyservices.threads.limit": ("{thread}", "The most worker threads a service may use."),
}


class _Tracked:
    __slots__ = ("lock", "provider", "services")

    def __init__(self) -> None:
        self.lock = threading.Lock()  # the reader's thread iterates while loops add
        self.services: weakref.WeakSet[Service[Any]] = weakref.WeakSet()
        self.provider: MeterProvider | None = None  # the one the gauges were made on


_tracked = _Tracked()


def track(service: Service[Any]) -> None:
    """Report ``service``'s gauges until :func:`untrack` (or until it is collected)."""
    with _tracked.lock:
        _tracked.services.add(service)
    _discover()
    provider = _providers.meter_provider
    if provider is not None and provider is not _tracked.provider:
        _make(provider)


def untrack(service: Service[Any]) -> None:
    with _tracked.lock:
        _tracked.services.discard(service)


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
            services = list(_tracked.services)
        for service in services:
            value = service._gauges().get(name)  # noqa: SLF001 -- the services' own hook
            if value is not None:
                attributes = {
                    "anyservices.service": service.service_name,
                    "anyservices.target": service._describe(),  # noqa: SLF001 -- as above
                }
                yield Observation(value, attributes)

    return observe
