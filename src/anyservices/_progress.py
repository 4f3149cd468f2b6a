"""Progress bars for long transfers and commands: a bar on a terminal, plain lines elsewhere.

``progress_bar(description)`` makes a progress callback, ``progress(done, total)`` (the
shape of :data:`anyservices.minio.ProgressCallback`), to pass to the services' transfer
methods; use it as a context manager so that the bar is finished when the transfer is::

    with progress_bar("upload big.iso") as progress:
        await minio.upload_file("big.iso", "/data/big.iso", progress=progress)

On a terminal the bar is drawn with rich (the optional extra ``anyservices[progress]``).
Elsewhere (a pipe, a log file, a CI job), or without rich, it writes one plain line at
each tenth of the total (or each ``every`` units when the total is unknown) and one at the
end. It writes to ``sys.stderr`` unless given a stream, never starts a thread (the bar is
redrawn by the callback itself, at most every ``min_interval`` seconds) and never touches
``sys.stdout``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Protocol, Self

__all__ = ("ProgressBar", "progress_bar")

_STEPS = 10
_MiB = 2**20


class _Renderer(Protocol):
    def update(self, done: int, total: int | None, *, final: bool) -> None: ...

    def close(self) -> None: ...


class ProgressBar:
    """A progress callback that draws what it is told; :func:`progress_bar` makes one."""

    def __init__(self, renderer: _Renderer) -> None:
        self._renderer = renderer
        self._closed = False

    def __call__(self, done: int, total: int | None) -> None:
        """Report ``done`` units of ``total`` (None: unknown)."""
        if not self._closed:
            self._renderer.update(done, total, final=total is not None and done >= total)

    def close(self) -> None:
        """Finish the bar (its last state stays on screen); later calls draw nothing."""
        if not self._closed:
            self._closed = True
            self._renderer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def progress_bar(
    description: str = "",
    *,
    stream: IO[str] | None = None,
    unit: str = "bytes",
    lines: bool = True,
    transient: bool = False,
    every: int = 16 * _MiB,
    min_interval: float = 0.1,
) -> ProgressBar:
    """A progress callback drawing on ``stream`` (default ``sys.stderr``).

    ``unit`` is ``"bytes"`` (sizes in KiB, MiB...) or the name of what is counted
    (``"services"``). When ``stream`` is not a terminal, or rich is not installed, it
    writes plain lines, unless ``lines`` is false (then nothing: for commands whose own
    output is enough there). A ``transient`` bar is erased when closed. ``every`` is the
    step of the lines when the total is unknown; ``min_interval`` the shortest time
    between two redraws of the bar.
    """
    if not (every > 0 and min_interval >= 0):
        raise ValueError("every must be positive and min_interval not negative")
    out = sys.stderr if stream is None else stream
    if _is_terminal(out):
        rich_bar = _rich_renderer(description, out, unit, min_interval, transient=transient)
        if rich_bar is not None:
            return ProgressBar(rich_bar)
    if not lines:
        return ProgressBar(_Silent())
    return ProgressBar(_Lines(description, out, unit, every))


def _is_terminal(stream: IO[str]) -> bool:
    isatty: Callable[[], bool] | None = getattr(stream, "isatty", None)
    return isatty is not None and isatty()


# -- plain lines -----------------------------------------------------------------------------


class _Silent:
    def update(self, done: int, total: int | None, *, final: bool) -> None:
        del done, total, final

    def close(self) -> None:
        pass


class _Lines:
    """A line at each tenth of a known total, or each ``every`` units, and one at the end."""

    def __init__(self, description: str, stream: IO[str], unit: str, every: int) -> None:
        self._prefix = f"{description}: " if description else ""
        self._stream = stream
        self._unit = unit
        self._every = every
        self._step: int | None = None
        self._last: tuple[int, int | None] | None = None
        self._written: tuple[int, int | None] | None = None

    def update(self, done: int, total: int | None, *, final: bool) -> None:
        self._last = (done, total)
        if total is not None and total > 0:
            step = min(done * _STEPS // total, _STEPS)
        else:
            step = done // self._every
        if step != self._step or final:
            self._step = step
            self._write(done, total)

    def close(self) -> None:
        if self._last is not None and self._last != self._written:
            self._write(*self._last)

    def _write(self, done: int, total: int | None) -> None:
        self._written = (done, total)
        amount = self._amount(done)
        if total is None:
            text = f"{amount} so far"
        else:
            percent = 100 if total <= 0 else min(done * 100 // total, 100)
            text = f"{percent}% ({amount} of {self._amount(total)})"
        self._stream.write(f"{self._prefix}{text}\n")
        self._stream.flush()

    def _amount(self, count: int) -> str:
        return format_size(count) if self._unit == "bytes" else f"{count} {self._unit}"


def format_size(count: int) -> str:
    """``1536`` -> ``"1.5 KiB"``; bytes below 1 KiB as ``"12 B"``."""
    if count < 1024:  # noqa: PLR2004 -- the unit
        return f"{count} B"
    size = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):  # noqa: B007 -- the last one is used after the loop
        size /= 1024
        if size < 1024:  # noqa: PLR2004 -- the unit
            break
    return f"{size:.1f} {unit}"  # TiB when it is even larger


# -- a bar on a terminal (rich) --------------------------------------------------------------


def _rich_renderer(
    description: str, stream: IO[str], unit: str, min_interval: float, *, transient: bool
) -> _Renderer | None:
    try:
        return _RichBar(description, stream, unit, min_interval, transient=transient)
    except ImportError:  # the extra is not installed
        return None


class _RichBar:
    """rich's bar, redrawn by the callback (no refresh thread), started on the first call."""

    def __init__(
        self, description: str, stream: IO[str], unit: str, min_interval: float, *, transient: bool
    ) -> None:
        from rich.console import Console  # noqa: PLC0415 -- rich is an optional extra
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns: list[ProgressColumn] = [
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
        ]
        if unit == "bytes":
            columns += [DownloadColumn(binary_units=True), TransferSpeedColumn()]
        else:
            columns += [MofNCompleteColumn(), TextColumn(unit)]
        columns.append(TimeRemainingColumn())
        self._progress = Progress(
            *columns,
            console=Console(file=stream, force_terminal=True),
            auto_refresh=False,  # no refresh thread: update() redraws
            transient=transient,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._progress.add_task(description, total=None)
        self._min_interval = min_interval
        self._drawn: float | None = None

    def update(self, done: int, total: int | None, *, final: bool) -> None:
        self._progress.update(self._task, completed=done, total=total)
        now = time.monotonic()
        if self._drawn is None:
            self._drawn = now
            self._progress.start()  # draws the first state
        elif final or now - self._drawn >= self._min_interval:
            self._drawn = now
            self._progress.refresh()

    def close(self) -> None:
        if self._drawn is not None:
            self._progress.stop()  # draws the last state
