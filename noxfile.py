"""Sessions named for what they do; tests and integration are parametrized by face.

nox -s lint typing                  # static checks
nox -s tests integration            # every face (asyncio, trio, sync)
nox -s "tests(face='trio')"         # one face
nox -s coverage bench docs demo
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typing", "tests", "integration", "docs", "coverage"]

ROOT = Path(__file__).parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
FACES = ["asyncio", "trio", "sync"]
REPORTS = ROOT / ".reports"


def install(session: nox.Session, *groups: str, package: bool = True) -> None:
    """Install the project (editable) and the named dependency groups."""
    requirements = [req for group in groups for req in PYPROJECT["dependency-groups"][group]]
    args = ["-e", "."] if package else []
    session.install(*args, *requirements)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and the generated sync faces are current."""
    install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "scripts/gen_sync_faces.py", "--check")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict and pyright strict over src and tests (tests/typing pins the faces)."""
    install(session, "typing", "test", "lint", "devservers", "examples")
    session.run("mypy")
    python = Path(session.virtualenv.location) / "bin" / "python"
    session.run("pyright", "--pythonpath", str(python))


# A whole pytest run's wall-clock cap: pytest-timeout's signal method cannot stop a test
# whose worker thread is blocked, so a hang ends here with faulthandler's stack dump
# (SIGABRT) and a failed session, well inside CI's budget, instead of CI's own timeout.
SESSION_CAP_S = {"tests": 600, "integration": 1200}


def _pytest(session: nox.Session, folder: str, face: str) -> None:
    REPORTS.mkdir(exist_ok=True)
    name = f"{folder}-{face}"
    cap = SESSION_CAP_S["tests" if folder == "tests" else "integration"]
    session.run(
        "timeout",
        "--signal=ABRT",
        f"{cap}s",
        "coverage",
        "run",
        "-m",
        "pytest",
        folder,
        "--face",
        face,
        f"--junitxml={REPORTS / name}.xml",
        *session.posargs,
        env={"COVERAGE_FILE": str(ROOT / f".coverage.{name}")},
        external=True,
    )


@nox.session
@nox.parametrize("face", FACES)
def tests(session: nox.Session, face: str) -> None:
    """Unit tests (no network) on one face."""
    install(session, "test")
    _pytest(session, "tests", face)


@nox.session
@nox.parametrize("face", FACES)
def integration(session: nox.Session, face: str) -> None:
    """Integration tests against real local servers (started if not configured)."""
    install(session, "test", "devservers", "examples")
    _pytest(session, "integration-tests", face)


@nox.session
def coverage(session: nox.Session) -> None:
    """Combine the coverage of every session and report it (branches included)."""
    session.install("coverage[toml]>=7.10")
    session.run("coverage", "combine", success_codes=[0, 1])
    session.run("coverage", "report")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, printed as ratios against the peer library in the same process."""
    install(session, "bench", "devservers")
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    install(session, "docs")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / ".site"))


@nox.session
def demo(session: nox.Session) -> None:
    """Run the demo on the configured servers, or local ones it starts."""
    install(session, "devservers")
    session.run("python", "-m", "anyservices", "demo", env=dict(os.environ))
