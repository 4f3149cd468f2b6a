"""The demo: one small pipeline over HTTP, S3, MongoDB and Redis, on every face."""

from __future__ import annotations

from ._run import run_demo as run_demo

__all__ = ("run_demo",)
