"""The async faces' run: open the services with ``async with``, then run the pipeline."""

from __future__ import annotations

from contextlib import AsyncExitStack

from ._pipeline import pipeline
from ._report import Report
from ._services import DemoServices

__all__ = ("run_async",)


async def run_async(services: DemoServices, report: Report) -> None:
    """The pipeline on the running loop (asyncio or trio)."""
    async with AsyncExitStack() as stack:
        for service in (services.http, services.s3, services.mongo, services.redis):
            await stack.enter_async_context(service)
        await pipeline(services, report)
