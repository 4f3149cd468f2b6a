"""The Redis service's statistics types (frozen dataclasses, returned by ``statistics()``).

``PoolStatistics`` is defined by the transport, next to the counters it reads.
"""

from __future__ import annotations

from ._client import PoolStatistics

__all__ = ("PoolStatistics",)
