"""Runs the demo on each face and prints its report."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence

import anyio

from .._core._errors import AnyServicesError
from ..testing import Face, backend_of
from ._report import Report
from ._server import document_server

__all__ = ("run_demo",)

#: The servers the demo needs, by their devservers names (Redis Stack is not used).
_SERVERS = ("redis", "mongo", "s3")


def _ensure_servers() -> None:
    """Start local servers for what ``ANYSERVICES_*`` does not configure (check the rest)."""
    from ..devservers import ensure_started  # noqa: PLC0415 -- only when asked to start

    print("checking servers (local ones are started when not configured; first time ~1 min)")
    sys.stdout.flush()
    os.environ.update(ensure_started(_SERVERS))


def run_face(face: Face, source: str) -> Report:
    """One run of the pipeline on ``face``."""
    if face == "sync":
        from ._sync import run_sync  # noqa: PLC0415 -- each face imports what it shows

        return run_sync(source)
    from ._async import run_async  # noqa: PLC0415

    return anyio.run(functools.partial(run_async, face, source), backend=backend_of(face))


def run_demo(faces: Sequence[Face], *, start_servers: bool = True) -> int:
    """Run the pipeline on each of ``faces``; 0 when every report adds up."""
    if start_servers:
        _ensure_servers()
    failed = False
    with document_server() as source:
        for face in faces:
            try:
                report = run_face(face, source)
            except AnyServicesError as exc:  # the demo's boundary: say what failed, no traceback
                print(f"[{face}] failed: {exc}", file=sys.stderr)
                return 1
            print("\n".join(report.lines()))
            sys.stdout.flush()
            failed = failed or not report.ok
    return 1 if failed else 0
