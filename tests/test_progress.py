"""The progress renderer: rich's bar on a terminal, plain lines elsewhere, on fake streams."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable
from typing import ClassVar, Self

import pytest

from anyservices import __main__ as cli
from anyservices._progress import ProgressBar, format_size, progress_bar
from anyservices.minio import MinioNotFoundError

MiB = 2**20


def plain(drawn: str) -> str:
    """What a terminal shows, without the colour and cursor codes."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class NoIsatty:
    """A stream without isatty() at all: not a terminal."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.fixture
def without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the extra were not installed: importing rich fails."""
    for name in ("rich", "rich.console", "rich.progress"):
        monkeypatch.setitem(sys.modules, name, None)


# -- plain lines -----------------------------------------------------------------------------


def test_lines_at_each_tenth_and_at_the_end() -> None:
    out = io.StringIO()
    with progress_bar("upload big.iso", stream=out) as progress:
        assert isinstance(progress, ProgressBar)
        for done in range(0, 10 * MiB, MiB // 2):
            progress(done, 10 * MiB)
        progress(10 * MiB, 10 * MiB)
    assert out.getvalue().splitlines() == [
        "upload big.iso: 0% (0 B of 10.0 MiB)",
        *(f"upload big.iso: {n}0% ({n}.0 MiB of 10.0 MiB)" for n in range(1, 10)),
        "upload big.iso: 100% (10.0 MiB of 10.0 MiB)",
    ]


def test_an_unfinished_transfer_writes_where_it_stopped_when_closed() -> None:
    out = io.StringIO()
    progress = progress_bar("download x", stream=out)
    progress(0, 1000)
    progress(150, 1000)
    progress(199, 1000)  # same tenth: no line yet
    progress.close()
    progress(1000, 1000)  # closed: ignored
    progress.close()
    assert out.getvalue().splitlines() == [
        "download x: 0% (0 B of 1000 B)",
        "download x: 15% (150 B of 1000 B)",
        "download x: 19% (199 B of 1000 B)",
    ]


def test_an_unknown_total_counts_in_steps_of_every() -> None:
    out = io.StringIO()
    with progress_bar(stream=out, every=MiB) as progress:
        for done in range(0, 3 * MiB + 1, MiB // 4):
            progress(done, None)
        progress(3 * MiB + 5, None)
    assert out.getvalue().splitlines() == [
        "0 B so far",
        "1.0 MiB so far",
        "2.0 MiB so far",
        "3.0 MiB so far",
        "3.0 MiB so far",  # the last count, at the end (3 MiB + 5 B)
    ]


def test_an_empty_transfer_is_complete_at_once() -> None:
    out = io.StringIO()
    with progress_bar("upload empty", stream=out) as progress:
        progress(0, 0)
    assert out.getvalue() == "upload empty: 100% (0 B of 0 B)\n"


def test_another_unit_counts_things() -> None:
    out = NoIsatty()
    with progress_bar("checking", stream=out, unit="services") as progress:  # type: ignore[arg-type]
        progress(1, 3)
        progress(3, 3)
    assert "".join(out.parts).splitlines() == [
        "checking: 33% (1 services of 3 services)",
        "checking: 100% (3 services of 3 services)",
    ]


def test_nothing_is_written_when_never_told() -> None:
    out = io.StringIO()
    with progress_bar("idle", stream=out):
        pass
    assert out.getvalue() == ""


def test_lines_false_is_silent_off_a_terminal() -> None:
    out = io.StringIO()
    with progress_bar("quiet", stream=out, lines=False) as progress:
        progress(5, 10)
        progress(10, 10)
    assert out.getvalue() == ""


def test_the_default_stream_is_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("x") as progress:
        progress(1, 1)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "x: 100% (1 B of 1 B)\n")


@pytest.mark.parametrize(("every", "min_interval"), [(0, 0.1), (1, -1.0)])
def test_bad_settings_are_refused(every: int, min_interval: float) -> None:
    with pytest.raises(ValueError, match="every must be positive"):
        progress_bar(every=every, min_interval=min_interval)


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (5 * MiB + 12345, "5.0 MiB"),
        (3 * 2**30, "3.0 GiB"),
        (2**50, "1024.0 TiB"),
    ],
)
def test_format_size(count: int, text: str) -> None:
    assert format_size(count) == text


# -- a terminal ------------------------------------------------------------------------------


def test_a_terminal_gets_rich_s_bar() -> None:
    out = Terminal()
    with progress_bar("upload big.iso", stream=out, min_interval=0) as progress:
        progress(0, 10 * MiB)
        progress(5 * MiB, 10 * MiB)
        progress(10 * MiB, 10 * MiB)
    drawn = out.getvalue()
    assert "\x1b[" in drawn  # control codes: redrawn in place
    assert "\r" in drawn
    assert "upload big.iso" in drawn
    assert " 50%" in drawn
    assert "5.0/10.0 MiB" in drawn
    assert "100%" in drawn
    assert "10.0/10.0 MiB" in drawn
    assert drawn.endswith("\n\x1b[?25h")  # the last state stays, the cursor comes back
    assert "% (" not in drawn  # no plain line


def test_the_bar_is_redrawn_at_most_every_min_interval() -> None:
    out = Terminal()
    with progress_bar("slow", stream=out, min_interval=3600) as progress:
        progress(0, 100)  # the first call draws
        progress(37, 100)  # within the interval: not drawn
        progress(100, 100)  # the end is always drawn
    drawn = out.getvalue()
    assert "37%" not in drawn
    assert "  0%" in drawn
    assert "100%" in drawn


def test_a_terminal_bar_of_things_and_of_an_unknown_total() -> None:
    out = Terminal()
    with progress_bar("checking", stream=out, unit="services", min_interval=0) as progress:
        progress(2, 4)
    assert "2/4 services" in plain(out.getvalue())
    out = Terminal()
    with progress_bar("stream", stream=out, min_interval=0) as progress:
        progress(3 * MiB, None)
    assert "3.0/? MiB" in plain(out.getvalue())
    assert " 0/? bytes" not in plain(out.getvalue())  # the first drawing shows the first count


def test_a_transient_bar_is_erased_and_an_unused_one_draws_nothing() -> None:
    out = Terminal()
    with progress_bar("checking", stream=out, transient=True, min_interval=0) as progress:
        progress(1, 1)
    drawn = out.getvalue()
    assert "checking" in drawn
    assert not drawn.endswith("\n\x1b[?25h")  # erased, not left as a last line
    out = Terminal()
    with progress_bar("unused", stream=out):
        pass
    assert out.getvalue() == ""


def test_without_rich_a_terminal_gets_plain_lines(without_rich: None) -> None:
    out = Terminal()
    with progress_bar("upload", stream=out) as progress:
        progress(1, 2)
        progress(2, 2)
    assert out.getvalue().splitlines() == [
        "upload: 50% (1 B of 2 B)",
        "upload: 100% (2 B of 2 B)",
    ]


# -- python -m anyservices s3: the command's transfer and its bar, over a fake service --------


class FakeMinio:
    """Stands in for MinioService: reports progress in four steps, or fails."""

    calls: ClassVar[list[tuple[str, str, str, str | None]]] = []
    fail: ClassVar[BaseException | None] = None

    def __init__(self, config: object) -> None:
        del config

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass

    async def _transfer(
        self,
        op: str,
        object_name: str,
        path: str,
        bucket: str | None,
        progress: Callable[..., object],
    ) -> None:
        self.calls.append((op, object_name, path, bucket))
        if self.fail is not None:
            raise self.fail
        for done in range(0, 4 * MiB + 1, MiB):
            progress(done, 4 * MiB)

    async def upload_file(
        self,
        object_name: str,
        file_path: str,
        *,
        bucket_name: str | None,
        progress: Callable[..., object],
    ) -> str:
        await self._transfer("upload", object_name, file_path, bucket_name, progress)
        return object_name

    async def download_file(
        self,
        object_name: str,
        file_path: str,
        *,
        bucket_name: str | None,
        progress: Callable[..., object],
    ) -> None:
        await self._transfer("download", object_name, file_path, bucket_name, progress)


@pytest.fixture
def fake_minio(monkeypatch: pytest.MonkeyPatch) -> type[FakeMinio]:
    from anyservices import minio  # noqa: PLC0415

    monkeypatch.setenv("ANYSERVICES_MINIO_ENDPOINT", "s3.invalid:9010")
    monkeypatch.setattr(minio, "MinioService", FakeMinio)
    FakeMinio.calls = []
    FakeMinio.fail = None
    return FakeMinio


def test_s3_upload_and_download_draw_their_progress(
    fake_minio: type[FakeMinio], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["s3", "upload", "a/b.bin", "/data/b.bin", "--bucket", "bkt"]) == 0
    assert cli.main(["s3", "download", "a/b.bin", "/data/back.bin"]) == 0
    assert fake_minio.calls == [
        ("upload", "a/b.bin", "/data/b.bin", "bkt"),
        ("download", "a/b.bin", "/data/back.bin", None),
    ]
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == "upload a/b.bin: 0% (0 B of 4.0 MiB)"
    assert lines[4] == "upload a/b.bin: 100% (4.0 MiB of 4.0 MiB)"
    assert lines[5] == "download a/b.bin: 0% (0 B of 4.0 MiB)"
    assert lines[-1] == "download a/b.bin: 100% (4.0 MiB of 4.0 MiB)"


@pytest.mark.parametrize(
    "error",
    [
        MinioNotFoundError("no such bucket", service="minio"),
        FileNotFoundError(2, "No such file or directory"),
    ],
)
def test_a_failed_s3_transfer_exits_1_with_one_line(
    fake_minio: type[FakeMinio], capsys: pytest.CaptureFixture[str], error: BaseException
) -> None:
    fake_minio.fail = error
    assert cli.main(["s3", "upload", "x", "/nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"upload failed: {type(error).__name__}: ")
    assert err.count("\n") == 1


def test_a_bad_s3_setting_exits_1_naming_it(
    fake_minio: type[FakeMinio], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANYSERVICES_MINIO_SECURE", "perhaps")
    assert cli.main(["s3", "download", "x", "/data/x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("download failed: ValidationError: ")
    assert "secure" in err
    assert fake_minio.calls == []


def test_s3_without_an_endpoint_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANYSERVICES_MINIO_ENDPOINT", raising=False)
    assert cli.main(["s3", "upload", "x", "/dev/null"]) == 2
    assert capsys.readouterr().err.startswith("S3 is not configured")
