"""How the service reaches the SDK: every call in its one ``ThreadRunner``, errors mapped once.

``SdkCalls.run(func, op, bucket, obj)`` runs ``func()`` (a blocking SDK call) in a
worker thread of ``max_concurrency`` (the size of the SDK's HTTP pool too), waits for it
when the caller is cancelled and then raises the cancellation, and turns what it raised
into a ``MinioError`` naming the operation, bucket and object at ``_errors.map_errors``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from minio import Minio

from .._core._telemetry import s3_telemetry
from .._core._threads import ThreadRunner
from ._config import MinioConfig
from ._errors import map_errors
from ._statistics import ByteCounts

__all__ = ("SdkCalls",)

T = TypeVar("T")


class SdkCalls:
    """The open service's SDK client, its runner, its settings and its byte counts."""

    def __init__(
        self, client: Minio, runner: ThreadRunner, config: MinioConfig, counts: ByteCounts
    ) -> None:
        self.client = client
        self.config = config
        self.counts = counts
        self._runner = runner
        self._telemetry = s3_telemetry(config.endpoint)

    async def run(
        self,
        func: Callable[[], T],
        op: str,
        bucket: str | None = None,
        obj: str | None = None,
    ) -> T:
        """``func()`` in a worker thread; SDK, urllib3 and socket errors become ours."""
        with self._telemetry.operation(op, bucket):  # a span: the thread hop too, no object
            return await self._runner.run(
                func, map_errors=functools.partial(map_errors, op, bucket, obj)
            )
