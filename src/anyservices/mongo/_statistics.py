"""MongoService's statistics: its worker threads' (one type for every thread-backed service)."""

from __future__ import annotations

from typing import TypeAlias

from .._core._threads import ThreadStatistics

__all__ = ("MongoStatistics",)

#: Threads in use, their peak, waiting callers, calls and errors (``max_threads`` is
#: ``max_pool_size``).
MongoStatistics: TypeAlias = ThreadStatistics
