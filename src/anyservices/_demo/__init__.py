"""The demo: what each service does, on asyncio, on trio and through the sync face."""

from __future__ import annotations

from ._run import run_demo as run_demo

__all__ = ("run_demo",)
