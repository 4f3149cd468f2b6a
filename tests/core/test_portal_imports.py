"""Importing anyservices imports no asyncio, so tools that unload modules cannot split it.

``coverage run --source=anyservices.redis`` imports the parent package to locate the
subpackage, then drops from ``sys.modules`` whatever that import brought in. Had it
brought asyncio in, the C ``_asyncio`` module (never re-initialised) would keep raising
the first import's ``CancelledError`` while the program's re-imported asyncio and anyio
catch a new class, and every cancellation on the asyncio portal would escape (the
service's task group could not close). Each test runs a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from anyservices._core._portal import Backend

ROOT = Path(__file__).resolve().parents[2]


def run_fresh(code: str) -> str:
    """Run ``code`` in a new interpreter (from the repository root) and return its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_anyservices_imports_no_event_loop_library() -> None:
    loaded = run_fresh(
        """
        import sys
        import anyservices
        print(sorted(name for name in ("asyncio", "_asyncio", "trio") if name in sys.modules))
        """
    )
    assert loaded == "[]"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_face_works_after_its_import_was_unloaded(backend: Backend) -> None:
    """What coverage's source lookup does, done by hand: import, unload, import again."""
    out = run_fresh(
        f"""
        import sys
        before = set(sys.modules)
        import anyservices
        for name in set(sys.modules) - before:
            del sys.modules[name]

        import anyservices
        from tests.core._toy import ToyConfig, ToyService

        for _ in range(3):
            toy = ToyService(ToyConfig())
            with anyservices.blocking(toy, backend={backend!r}) as face:
                face.echo("x")
            assert toy.events == ["open", "closed"], toy.events  # its task group closed
        print("ok")
        """
    )
    assert out == "ok"
