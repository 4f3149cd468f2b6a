"""Installing what a server needs: Debian packages with apt-get, Python ones with pip."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from ._common import DevServerError, log

_INSTALL_TIMEOUT = 900.0
_APT_LOCK = threading.Lock()  # one apt-get at a time in this process (apt's own lock across them)
_PIP_LOCK = threading.Lock()
_APT_LISTS = Path("/var/lib/apt/lists")
_OUTPUT_TAIL = 1500


def run_step(
    command: Sequence[str],
    what: str,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = _INSTALL_TIMEOUT,
) -> str:
    """Run one install or set-up command; on failure raise with the tail of its output."""
    try:
        done = subprocess.run(
            list(command),
            check=False,
            cwd=cwd,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive", **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DevServerError(f"{what} failed: {error}") from error
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-_OUTPUT_TAIL:]
        raise DevServerError(
            f"{what} failed (exit {done.returncode}): {' '.join(command)}\n{output}"
        )
    return done.stdout


def ensure_apt(binary: str, packages: Sequence[str]) -> str:
    """The path of ``binary``, installing Debian ``packages`` first when it is missing."""
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0:
        raise DevServerError(f"{binary} is missing; install {' '.join(packages)} (needs root)")
    with _APT_LOCK:
        if not shutil.which(binary):
            _apt_install(packages)
    found = shutil.which(binary)
    if not found:
        raise DevServerError(f"{binary} is still missing after installing {' '.join(packages)}")
    return found


def _apt_install(packages: Sequence[str]) -> None:
    log(f"installing {' '.join(packages)} with apt-get ...")
    wait = ["-o", "DPkg::Lock::Timeout=300"]  # another apt-get (another process) may hold it
    install = ["apt-get", *wait, "install", "-y", "-q", "--no-install-recommends", *packages]
    update = ["apt-get", *wait, "update", "-q"]
    if not any(_APT_LISTS.glob("*_Packages*")):
        run_step(update, "apt-get update")
        run_step(install, f"installing {' '.join(packages)}")
        return
    try:
        run_step(install, f"installing {' '.join(packages)}")
    except DevServerError:
        run_step(update, "apt-get update")  # the package lists may be stale
        run_step(install, f"installing {' '.join(packages)}")


def has_module(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def ensure_pip(module: str, *requirements: str) -> None:
    """Install ``requirements`` into this interpreter's environment when ``module`` is missing."""
    if has_module(module):
        return
    with _PIP_LOCK:
        importlib.invalidate_caches()
        if has_module(module):
            return
        log(f"installing {' '.join(requirements)} with pip ...")
        run_step([*_pip(), "install", "-q", *requirements], f"pip install {' '.join(requirements)}")
        importlib.invalidate_caches()
    if not has_module(module):
        raise DevServerError(
            f"{module} is still missing after pip install {' '.join(requirements)}"
        )


def _pip() -> list[str]:
    """``python -m pip`` for this interpreter, or ``uv pip`` when the venv has no pip."""
    if has_module("pip"):
        return [sys.executable, "-m", "pip"]
    uv = shutil.which("uv")
    if uv:
        return [uv, "pip", "--python", sys.executable]
    raise DevServerError(f"{sys.executable} has no pip (and no uv is on PATH) to install with")


def console_script(name: str) -> str:
    """A console script installed beside this interpreter (a venv need not be on PATH)."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise DevServerError(f"{name} is not installed beside {sys.executable} nor on PATH")
    return found
