"""Runs the demo on each face and prints its report."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import cast

import anyio

from .._core._errors import AnyServicesError
from ..testing import Face, backend_of
from ._async import run_async
from ._report import Report
from ._server import document_server
from ._services import demo_services
from ._sync import run_sync

__all__ = ("run_demo",)

#: The servers the demo needs, by their devservers names (Redis Stack is not used).
_SERVERS = ("redis", "mongo", "s3")


def _ensure_servers() -> None:
    """Start local servers for what ``ANYSERVICES_*`` does not configure (check the rest)."""
    from ..devservers import ensure_started  # noqa: PLC0415 -- only when asked to start

    print("checking servers (local ones are started when not configured; first time ~1 min)")
    sys.stdout.flush()
    os.environ.update(ensure_started(_SERVERS))


#: How each face runs the one pipeline (``_pipeline.py``).
_HOW: dict[Face, str] = {
    "asyncio": "async/await on asyncio",
    "trio": "async/await on trio",
    "sync": "the blocking() faces (shared portal on asyncio), called from worker threads",
}


def run_face(face: Face, source: str) -> Report:
    """One run of the pipeline on ``face``."""
    report = Report(face=face, how=_HOW[face], source=source)
    services = demo_services(face, source)
    started = time.perf_counter()
    if face == "sync":
        run_sync(services, report)
    else:
        anyio.run(run_async, services, report, backend=backend_of(face))
    report.elapsed_ms = (time.perf_counter() - started) * 1000
    return report


def _service_failure(error: BaseException) -> AnyServicesError | None:
    """The service error to report for ``error``: itself, or the first of a group of them.

    Concurrent steps (the stores) fail as an exception group; anything but service errors
    in it is a bug, and keeps its traceback.
    """
    if isinstance(error, AnyServicesError):
        return error
    if isinstance(error, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", error)
        failures = [_service_failure(member) for member in group.exceptions]
        if all(failures):
            return failures[0]
    return None


def run_demo(faces: Sequence[Face], *, start_servers: bool = True) -> int:
    """Run the pipeline on each of ``faces``; 0 when every report adds up."""
    if start_servers:
        _ensure_servers()
    failed = False
    with document_server() as source:
        for face in faces:
            try:
                report = run_face(face, source)
            except (AnyServicesError, ExceptionGroup) as exc:  # the demo's boundary
                failure = _service_failure(exc)
                if failure is None:
                    raise
                print(f"[{face}] failed: {failure}", file=sys.stderr)  # what failed, no traceback
                return 1
            print("\n".join(report.lines()))
            sys.stdout.flush()
            failed = failed or not report.ok
    return 1 if failed else 0
