"""MinioService's statistics: its worker threads' (the shared type) and the bytes it moved."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .._core._threads import ThreadStatistics

__all__ = ("ByteCounts", "MinioStatistics")


@dataclass(frozen=True)
class MinioStatistics:
    """A snapshot of the worker threads running SDK calls and of the bytes moved."""

    #: The threads running SDK calls (``max_threads`` is ``max_concurrency``).
    threads: ThreadStatistics
    #: Bytes of objects stored by finished uploads.
    bytes_uploaded: int
    #: Bytes of objects read (whole or streamed).
    bytes_downloaded: int


class ByteCounts:
    """Bytes moved, counted from worker threads and the event loop alike."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uploaded = 0
        self._downloaded = 0

    def uploaded(self, count: int) -> None:
        with self._lock:
            self._uploaded += count

    def downloaded(self, count: int) -> None:
        with self._lock:
            self._downloaded += count

    def snapshot(self, threads: ThreadStatistics) -> MinioStatistics:
        with self._lock:
            return MinioStatistics(threads, self._uploaded, self._downloaded)
