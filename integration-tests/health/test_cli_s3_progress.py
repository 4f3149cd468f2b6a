"""``python -m anyservices s3 upload|download`` against the real S3 server: the transfer,
its progress (plain lines when stderr is not a terminal, rich's bar when it is) and its
exit codes. Plain tests: the command is the sync entry point (they run in the sync session).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from anyservices import __main__ as cli
from anyservices.minio import MinioConfig, MinioService
from anyservices.testing._cleanup import remove_bucket

_SIZE = 5 * 2**20 + 12345  # more than one multipart part (5 MiB)


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> Iterator[str]:
    """A bucket of the test's own, removed with its objects after."""
    name = f"test-cli-{uuid.uuid4().hex[:12]}"
    config = MinioConfig.from_env(s3_env)

    async def create() -> None:
        async with MinioService(config) as minio:
            await minio.ensure_bucket(name)

    anyio.run(create)
    yield name
    anyio.run(remove_bucket, config, name)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANYSERVICES_")}
    return subprocess.run(
        [sys.executable, "-m", "anyservices", "s3", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_upload_and_download_print_plain_progress_lines(
    s3_env: dict[str, str], bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(_SIZE))
    up = _cli(s3_env, "upload", "dir/big.bin", str(source), "--bucket", bucket)
    assert up.returncode == 0, up.stderr
    assert up.stdout == ""
    lines = up.stderr.splitlines()
    assert lines[0] == "upload dir/big.bin: 0% (0 B of 5.0 MiB)"
    assert lines[-1] == "upload dir/big.bin: 100% (5.0 MiB of 5.0 MiB)"
    percents = [int(line.split(": ")[1].split("%")[0]) for line in lines]
    assert percents == sorted(percents)
    target = tmp_path / "back.bin"
    down = _cli(s3_env, "download", "dir/big.bin", str(target), "--bucket", bucket)
    assert down.returncode == 0, down.stderr
    assert down.stderr.splitlines()[-1] == "download dir/big.bin: 100% (5.0 MiB of 5.0 MiB)"
    assert target.read_bytes() == source.read_bytes()


def test_a_failed_transfer_exits_1_with_one_line(
    s3_env: dict[str, str], bucket: str, tmp_path: Path
) -> None:
    missing = _cli(s3_env, "download", "no/such/object", str(tmp_path / "x"), "--bucket", bucket)
    assert missing.returncode == 1
    (line,) = missing.stderr.splitlines()[-1:]
    assert line.startswith("download failed: MinioNotFoundError: ")
    assert "Traceback" not in missing.stderr
    assert not (tmp_path / "x").exists()
    no_file = _cli(s3_env, "upload", "x", str(tmp_path / "absent.bin"), "--bucket", bucket)
    assert no_file.returncode == 1
    assert no_file.stderr.startswith("upload failed: ")
    assert s3_env["ANYSERVICES_MINIO_SECRET_KEY"] not in missing.stderr + no_file.stderr


def test_s3_not_configured_exits_2() -> None:
    result = _cli({}, "upload", "x", "/dev/null")
    assert result.returncode == 2
    assert result.stderr.startswith("S3 is not configured: set ANYSERVICES_MINIO_ENDPOINT")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_cli_draws_rich_s_bar(
    s3_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"test-cli-{uuid.uuid4().hex[:12]}"
    for key, value in s3_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ANYSERVICES_MINIO_DEFAULT_BUCKET", name)
    monkeypatch.setenv("ANYSERVICES_MINIO_AUTO_CREATE_BUCKET", "true")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(_SIZE))
    try:
        assert cli.main(["s3", "upload", "big.bin", str(source)]) == 0
    finally:
        anyio.run(remove_bucket, MinioConfig.from_env(s3_env), name)
    drawn = terminal.getvalue()
    assert "\x1b[" in drawn  # drawn with terminal control codes, not lines
    assert "upload big.bin" in drawn
    assert "100%" in drawn
    assert "5.0/5.0 MiB" in drawn
    assert "% (" not in drawn  # no plain line
