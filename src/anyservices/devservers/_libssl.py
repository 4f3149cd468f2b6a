"""``libssl.so.1.1`` for the Redis Stack binaries, which bookworm does not ship.

Debian's ``bullseye-security`` suite has it. It is fetched with a private sources list,
private package lists and a private cache, then unpacked into the state folder: the
system's apt configuration and package database are never touched. Fetched once, cached.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

from ._common import DevServerError, log, state_dir
from ._install import run_step

_SOURCES = [Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d")]
_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
_DEFAULT_SECURITY = "http://deb.debian.org/debian-security"
_LOCK = threading.Lock()


def libssl11_dir() -> Path:
    """The folder holding ``libssl.so.1.1``, for ``LD_LIBRARY_PATH``."""
    root = state_dir() / "libssl1.1"
    with _LOCK:
        found = sorted(root.glob("usr/lib/*/libssl.so.1.1"))
        if not found:
            _fetch(root)
            found = sorted(root.glob("usr/lib/*/libssl.so.1.1"))
        if not found:
            raise DevServerError(f"libssl1.1 was unpacked into {root} but has no libssl.so.1.1")
        return found[0].parent


def _fetch(root: Path) -> None:
    mirror = security_mirror(source_uris())
    log(f"fetching libssl1.1 from {mirror} bullseye-security (private apt lists) ...")
    with tempfile.TemporaryDirectory(prefix="libssl11-") as tmp:
        work = Path(tmp)
        for folder in ("lists/partial", "cache/archives/partial"):
            (work / folder).mkdir(parents=True)
        sources = work / "sources.list"
        sources.write_text(f"deb [signed-by={_KEYRING}] {mirror} bullseye-security main\n")
        private = [
            "-o", f"Dir::Etc::sourcelist={sources}", "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={work / 'lists'}", "-o", f"Dir::Cache={work / 'cache'}",
            "-o", "APT::Sandbox::User=root",
        ]  # fmt: skip
        run_step(["apt-get", *private, "update", "-q"], "apt-get update (bullseye-security)")
        run_step(["apt-get", *private, "download", "libssl1.1"], "downloading libssl1.1", cwd=work)
        package = next(work.glob("libssl1.1_*.deb"), None)
        if package is None:
            raise DevServerError("apt-get download libssl1.1 produced no .deb file")
        unpacked = work / "root"
        run_step(["dpkg-deb", "-x", str(package), str(unpacked)], "unpacking libssl1.1")
        shutil.rmtree(root, ignore_errors=True)
        shutil.move(unpacked, root)  # whole or not at all: a half-unpacked cache is never seen


def source_uris() -> list[str]:
    """The archive URIs of this machine's apt sources (one-line and deb822 formats)."""
    files: list[Path] = []
    for source in _SOURCES:
        files += sorted(source.glob("*")) if source.is_dir() else [source]
    uris: list[str] = []
    for path in files:
        if not path.is_file() or path.suffix not in {"", ".list", ".sources"}:
            continue
        for raw in path.read_text(errors="replace").splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("URIs:"):
                uris += line.removeprefix("URIs:").split()
            elif line.startswith("deb "):
                uris += [word for word in line.split()[1:] if "://" in word][:1]
    return uris


def security_mirror(uris: list[str]) -> str:
    """The security archive on the Debian mirror this machine already uses."""
    for uri in uris:
        if uri.rstrip("/").endswith("/debian-security"):
            return uri.rstrip("/")
    for uri in uris:
        if uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/") + "-security"
    return _DEFAULT_SECURITY
