"""Worker: reads jobs in batches, runs them under leases, and shuts down gracefully.

Loops, all in the task group of ``run()``:

- read: the only loop that starts jobs, so each claim asks for exactly the free
  capacity: one script XREADGROUPs the streams in priority order and marks the jobs
  running; when nothing is ready it blocks in XREADGROUP on a connection of its own
  (``stop()`` unblocks it with CLIENT UNBLOCK); every ``lease / 4`` it first takes over
  jobs whose lease expired (their worker died) with XAUTOCLAIM, following its cursor.
  A fresh job read by the blocked XREADGROUP (its entry says it never started) starts
  at once, while its claim is on the way: a run waits for its claim before anything of
  it is recorded, and one the claim refuses (aborted or removed meanwhile) is cancelled;
- runners: a pool of tasks (at most ``concurrency``) runs the started jobs;
- finish: records the outcomes of the runs that finished meanwhile in one script; a
  run keeps its slot and its lease until its outcome is recorded;
- heartbeat: renews the lease of every running job (XCLAIM JUSTID, fenced by the
  delivery count) every ``lease_seconds / 3``; a run fenced off or asked to abort is
  cancelled;
- promote: moves due delayed jobs to their stream (waking the blocked reader), sleeping
  until the next one is due and woken by an earlier enqueue;
- periodic: at each tick of the queue's periodic schedules, one script enqueues the
  tick's job unless a worker fired that tick already;
- control: abort requests (a running job's cancel scope is cancelled at once) and
  wake-ups for the promoter, over pub/sub;
- measure: while an OpenTelemetry meter records, reads the queue's depth (``health()``)
  for the ``anyservices.queue.depth`` gauge every ``lease_seconds / 3``;
- signals: SIGTERM/SIGINT stop reading; running jobs get ``shutdown_grace_seconds``,
  then are cancelled and queued again without using up an attempt.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import anyio.abc
import anyio.lowlevel

from .._core import _gauges
from .._core._telemetry import NOOP, WorkerTelemetry
from ..redis import RedisConnectError, RedisResponseError, RedisService, RedisTimeoutError
from ..redis._protocol import Arg
from . import _scripts as scripts
from ._errors import QueueDataError
from ._keys import GROUP
from ._periodic import Periodic
from ._service import QueueService
from ._statistics import WorkerStatistics
from ._task import JobContext, Task

__all__ = ("Worker",)

_PROMOTE_LIMIT = 1000  # delayed jobs moved per script call
_MAX_IDLE_SLEEP = 5.0  # the promoter looks at least this often (a lost wake-up costs this)
_BLOCK_MS = 5000  # one blocking read waits at most this long
_RETRY_FIRST, _RETRY_MAX = 0.05, 2.0  # backoff after a Redis connection error
_TRANSIENT = (RedisConnectError, RedisTimeoutError)
_GONE = frozenset({"NOGROUP", "UNBLOCKED"})  # a stream or its group was deleted under us
# What the COMPLETE script's outcomes count as (statistics, metrics, the process span).
_COUNTED = {"succeeded": "succeeded", "failed": "failed", "retry": "retried",
            "aborted": "aborted", "dead": "dead", "release": "released"}  # fmt: skip
_ERRORS = frozenset({"failed", "retry", "dead"})  # outcomes that mark the span failed

_Outcome = tuple[str, str, str, str, int]  # COMPLETE's outcome, value, error type, message, delay


@dataclass(eq=False)
class _Run:
    """One delivery of one job to this worker."""

    index: int  # 1-based position of its stream in keys.streams (as the scripts count)
    entry: str
    job_id: str
    task: str
    payload: str
    deliveries: int  # the fencing token
    attempt: int
    traceparent: str  # the enqueuer's trace context ('' for none)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    reason: str | None = None  # why its scope was cancelled: abort, release, lost, refused
    claimed: anyio.Event | None = None  # started before its claim came back: set when it did


@dataclass
class _Counts:
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    aborted: int = 0
    dead: int = 0
    released: int = 0
    lost: int = 0
    fired: int = 0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Worker:
    """Runs the jobs of ``queue`` (its registered tasks, or ``tasks``), ``concurrency`` at a time.

    ``await worker.run()`` until ``stop()``, SIGTERM or SIGINT; ``run(burst=True)``
    returns once nothing is waiting. Plain-function tasks run in worker threads,
    at most ``concurrency`` at once.
    """

    def __init__(
        self,
        queue: QueueService,
        tasks: Sequence[Task[Any, Any]] | None = None,
        *,
        concurrency: int = 16,
        name: str | None = None,
        handle_signals: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.queue = queue
        self._tasks = {t.name: t for t in (tasks if tasks is not None else queue.tasks.values())}
        self.concurrency = concurrency
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._handle_signals = handle_signals
        self._logger = logger or logging.getLogger("anyservices.queue.worker")
        self._limiter: anyio.CapacityLimiter | None = None
        self._running: dict[str, _Run] = {}
        self._counts = _Counts()
        self._stopping = False
        self._slot: anyio.Event | None = None
        self._wake: anyio.Event  # the promoter's, made by run() before "due" can arrive
        self._finished: list[tuple[_Run, _Outcome]] = []  # outcomes not recorded yet
        self._finishing: anyio.Event  # wakes the finish loop (run() makes it)
        self._ready: deque[_Run] = deque()  # started, for the next free runner
        self._readied: anyio.Event | None = None  # what idle runners wait on
        self._runners = self._busy = 0
        self._reader_id: int | None = None
        self._loops: anyio.abc.TaskGroup | None = None
        self._telemetry = WorkerTelemetry(queue.config.name)

    def __repr__(self) -> str:
        return f"<Worker {self.name} on {self.queue.config.name}, {len(self._running)} running>"

    def statistics(self) -> WorkerStatistics:
        c = self._counts
        return WorkerStatistics(
            running=len(self._running),
            started=c.started,
            succeeded=c.succeeded,
            failed=c.failed,
            retried=c.retried,
            aborted=c.aborted,
            dead=c.dead,
            released=c.released,
            lost=c.lost,
            fired=c.fired,
        )

    def stop(self) -> None:
        """Stop reading; running jobs get the grace period (call from the worker's loop)."""
        if self._stopping:
            return
        self._stopping = True
        self._free_slot()
        if self._loops is not None and self._reader_id is not None:
            self._loops.start_soon(self._unblock, self._reader_id)

    async def run(self, *, burst: bool = False) -> WorkerStatistics:
        """Run jobs until stopped (or, with ``burst``, until none is waiting)."""
        queue = self.queue
        queue._check_open()  # noqa: SLF001 -- the worker is the queue's own consumer
        self._stopping = False
        self._limiter = anyio.CapacityLimiter(self.concurrency)
        self._finishing = anyio.Event()
        reader = RedisService(queue.redis.config.model_copy(update={"health_check_interval": None}))
        _gauges.track(self._telemetry)  # the queue's depth, as _measure last read it
        try:
            async with reader, anyio.create_task_group() as jobs:
                self._reader_id = int(await reader.execute_command("CLIENT", "ID"))
                async with anyio.create_task_group() as loops:
                    self._loops = loops
                    if (
                        self._handle_signals
                        and threading.current_thread() is threading.main_thread()
                    ):
                        await loops.start(self._signal_loop)  # before any job starts
                    await self._beat()
                    self._wake = anyio.Event()
                    await loops.start(self._control_loop)  # aborts reach what starts next
                    loops.start_soon(self._finish_loop)
                    loops.start_soon(self._forever, self._beat, queue.config.lease_seconds / 3)
                    loops.start_soon(self._promote_loop)
                    loops.start_soon(self._periodic_loop)
                    loops.start_soon(self._forever, self._measure, queue.config.lease_seconds / 3)
                    await self._read_loop(jobs, reader, burst=burst)
                    await self._drain()
                    loops.cancel_scope.cancel()
                jobs.cancel_scope.cancel()  # the runners, idle now
        finally:
            self._loops = self._reader_id = None
            self._runners = self._busy = 0
            # After a crash: what was handed out but never ran, or never recorded, is
            # redelivered when its lease expires.
            self._ready.clear()
            self._finished.clear()
            self._running.clear()
            _gauges.untrack(self._telemetry)
            self._telemetry.depth = {}
            # If Redis is away, the entry ages out of the live set on its own.
            with anyio.CancelScope(shield=True), anyio.move_on_after(5), suppress(*_TRANSIENT):
                await queue.redis.execute_command("ZREM", queue.keys.workers, self.name)
        return self.statistics()

    # -- reading -------------------------------------------------------------------

    async def _read_loop(
        self, jobs: anyio.abc.TaskGroup, reader: RedisService, *, burst: bool
    ) -> None:
        """The one task that starts jobs: each claim asks for exactly the free capacity
        (nothing else claims while it awaits), expired leases first every ``lease / 4``."""
        delay = _RETRY_FIRST
        reclaim_at = anyio.current_time()
        while not self._stopping:
            free = self.concurrency - len(self._running)
            if free <= 0:
                await self._wait_slot()
                continue
            try:
                if anyio.current_time() >= reclaim_at:
                    await self._reclaim(jobs, free)
                    reclaim_at = anyio.current_time() + self.queue.config.lease_seconds / 4
                    continue
                until = reclaim_at - anyio.current_time()
                if not await self._read_once(jobs, reader, free, until, burst=burst):
                    return
            except _TRANSIENT as exc:
                self._logger.warning("worker %s: %s; retrying in %.2f s", self.name, exc, delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
            except RedisResponseError as exc:
                if exc.code not in _GONE:
                    raise
                # The streams were deleted (FLUSHDB, or someone removed the queue's keys).
                self._logger.warning("worker %s: %s; creating the streams again", self.name, exc)
                await self.queue._ensure_streams()  # noqa: SLF001 -- the queue's own consumer
            else:
                delay = _RETRY_FIRST

    async def _read_once(
        self,
        jobs: anyio.abc.TaskGroup,
        reader: RedisService,
        free: int,
        until: float,
        *,
        burst: bool,
    ) -> bool:
        """Start what is ready, or wait for it (at most ``until`` s); False when a burst
        is done."""
        runs, _ = await self._claim("read", free)
        if runs:
            self._spawn(jobs, runs)
        elif not burst:
            await self._blocking_read(jobs, reader, free, until)
        elif self._running:
            await self._wait_slot()
        else:
            return bool((await self._promote(jobs, free))[0])
        return True

    async def _blocking_read(
        self, jobs: anyio.abc.TaskGroup, reader: RedisService, free: int, until: float
    ) -> None:
        """Block in XREADGROUP, then claim what it read: fresh jobs start at once, before
        their claim comes back; entries beyond ``free`` (several streams answered at once)
        go back to their stream's tail unstarted."""
        streams = self.queue.keys.streams
        timeout = reader.config.socket_timeout
        block = _BLOCK_MS if timeout is None else min(_BLOCK_MS, int(timeout * 500))
        block = max(1, min(block, int(until * 1000)))  # BLOCK 0 would wait forever
        reply = await reader.execute_command(
            "XREADGROUP", "GROUP", GROUP, self.name, "COUNT", max(1, free // len(streams)),
            "BLOCK", block, "STREAMS", *streams, *[">"] * len(streams),
        )  # fmt: skip
        if not reply:
            return
        items: Iterable[tuple[str, list[Any]]] = (
            cast("dict[str, list[Any]]", reply).items() if isinstance(reply, dict) else reply
        )
        pairs: list[Any] = []
        early: dict[str, _Run] = {}  # fresh jobs started before their claim, by entry id
        for stream, entries in sorted(items, key=lambda item: streams.index(item[0])):
            index = streams.index(stream) + 1
            for entry_id, fields in entries:
                f = dict(zip(fields[::2], fields[1::2], strict=True))
                if "n" in f and len(pairs) < 2 * free:  # the claim will start it, as 1/1
                    run = _Run(index, entry_id, f["id"], f["t"], f["p"], 1, 1, f["n"])
                    run.claimed = anyio.Event()
                    early[entry_id] = run
                pairs += [index, entry_id]
        self._spawn(jobs, list(early.values()))
        try:
            started, _ = await self._claim("start", free, pairs)
        except BaseException:
            self._refuse(early.values())  # not known to be claimed: its lease lets it run again
            raise
        later: list[_Run] = []
        for run in started:
            ran = early.pop(run.entry, None)
            if ran is None:
                later.append(run)
            else:
                ran.deliveries, ran.attempt = run.deliveries, run.attempt
                self._claimed(ran)
        self._refuse(early.values())
        self._spawn(jobs, later)

    async def _claim(
        self, mode: str, count: int, extra: Sequence[Any] = ()
    ) -> tuple[list[_Run], list[Any]]:
        """The runs started by one CLAIM script, and what its mode returns besides."""
        queue, keys = self.queue, self.queue.keys
        started, more = await scripts.run(
            queue.redis,
            scripts.CLAIM,
            [keys.dead, *keys.streams],
            [GROUP, self.name, count, queue.config.max_deliveries, keys.prefix, keys.events_full,
             queue.config.result_ttl_seconds, mode, *extra],
        )  # fmt: skip
        runs = [
            _Run(int(index), entry, job_id, task, payload, int(deliveries), int(attempt), carried)
            for index, entry, job_id, task, payload, deliveries, attempt, carried in started
        ]
        return runs, more

    @staticmethod
    def _claimed(run: _Run) -> None:
        """The claim of a run started before it came back: what waits for it goes on."""
        claimed, run.claimed = run.claimed, None
        cast("anyio.Event", claimed).set()  # only runs started early are passed here

    def _refuse(self, runs: Iterable[_Run]) -> None:
        """Cancel runs started before their claim that it did not start (nothing of them is
        recorded: the claim left the job as it found it, or finished it)."""
        for run in runs:
            run.reason = "refused"
            run.scope.cancel()
            self._count(run, "lost")
            self._claimed(run)

    async def _confirmed(self, run: _Run) -> bool:
        """Wait for the claim of a run started before it; False when it refused the run."""
        if run.claimed is not None:
            await run.claimed.wait()
        return run.reason != "refused"

    async def _reclaim(self, jobs: anyio.abc.TaskGroup, free: int) -> None:
        """Take over jobs whose lease expired (their worker died), up to ``free``."""
        lease_ms = round(self.queue.config.lease_seconds * 1000)
        cursors: list[str] = ["0"] * len(self.queue.keys.streams)
        while free > 0 and any(c != "0-0" for c in cursors):
            runs, cursors = await self._claim("reclaim", free, [lease_ms, *cursors])
            self._spawn(jobs, runs)
            free -= len(runs)

    def _spawn(self, jobs: anyio.abc.TaskGroup, runs: list[_Run]) -> None:
        """Hand runs to the runner tasks (more are started while every one is busy)."""
        for run in runs:
            stale = self._running.get(run.job_id)
            if stale is not None:  # reclaimed from under ourselves: the old run is fenced off
                self._cancel(stale, "lost")
            self._running[run.job_id] = run
            self._counts.started += 1
            self._ready.append(run)
        while self._runners - self._busy < len(self._ready):
            self._runners += 1
            jobs.start_soon(self._runner)
        if runs and self._readied is not None:
            self._readied.set()
            self._readied = None

    async def _runner(self) -> None:
        """Run ready runs one after the other (a task per job costs more than a pool)."""
        ready = self._ready
        while True:
            while ready:
                self._busy += 1
                try:
                    await self._execute(ready.popleft())
                finally:
                    self._busy -= 1
            if self._readied is None:
                self._readied = anyio.Event()
            await self._readied.wait()

    async def _wait_slot(self) -> None:
        self._slot = event = anyio.Event()
        await event.wait()
        await anyio.lowlevel.checkpoint()  # let other finishing jobs free their slots too

    def _free_slot(self) -> None:
        if self._slot is not None:
            self._slot.set()

    async def _unblock(self, client_id: int) -> None:
        with self._riding_out():  # Redis away: the blocked read fails on its own
            await self.queue.redis.execute_command("CLIENT", "UNBLOCK", client_id)

    # -- running a job ---------------------------------------------------------------

    async def _execute(self, run: _Run) -> None:
        """Run the job and record its outcome, in a CONSUMER span ``process <queue>``: a
        child of the enqueuer's span on the first attempt, linked to it on a retry. Without
        telemetry the finish loop records it, with the others that finish meanwhile."""
        handed = False
        try:
            with self._telemetry.process(
                run.job_id, run.task, run.attempt, run.traceparent
            ) as processing:
                outcome = await self._outcome(run)
                if not await self._confirmed(run):
                    outcome = None
                if outcome is not None and processing is NOOP:
                    self._finished.append((run, outcome))
                    self._finishing.set()
                    handed = True
                    return
                # A span records: its own COMPLETE call (a child of the span).
                ended = "lost" if outcome is None else (await self._complete([(run, outcome)]))[0]
                processing.set_attribute("anyservices.queue.outcome", ended)
                if outcome is not None and outcome[0] in _ERRORS:
                    processing.fail(outcome[2])
        finally:
            if not handed:
                self._forget([run])

    def _forget(self, runs: Iterable[_Run]) -> None:
        for run in runs:
            if self._running.get(run.job_id) is run:
                del self._running[run.job_id]
        self._free_slot()

    async def _outcome(self, run: _Run) -> _Outcome | None:
        """What to record for this run, or None when it was fenced off."""
        task = self._tasks.get(run.task)
        if task is None:
            message = f"this worker has no task named {run.task!r}"
            return ("dead", run.payload, "UnknownTask", message, 0)
        try:
            payload = task.decode_payload(run.payload)
        except QueueDataError as exc:
            return ("dead", run.payload, "InvalidPayload", exc.message, 0)
        return await self._call(run, task, payload)

    async def _call(self, run: _Run, task: Task[Any, Any], payload: Any) -> _Outcome | None:
        """Run the task; the outcome to record, or None when the run was fenced off."""
        if self._limiter is None:  # pragma: no cover - set by run()
            raise AssertionError("the worker is running")

        async def report(fraction: float, message: str) -> None:
            await self._progress(run, fraction, message)

        ctx = JobContext(run.job_id, run.task, run.attempt, report)
        outcome: _Outcome | None = None
        deadline: AbstractContextManager[Any] = (
            anyio.fail_after(task.timeout) if task.timeout is not None else nullcontext()
        )
        with run.scope:
            try:
                with deadline:
                    result = await task.run(ctx, payload, self._limiter)
            except TimeoutError:
                message = f"timed out after {task.timeout} s"
                outcome = self._failure(
                    run, task, "TimeoutError", message, task.retry.retry_timeouts
                )
            except Exception as exc:  # noqa: BLE001 -- whatever the task raises is its outcome
                outcome = self._failure(run, task, type(exc).__name__, str(exc), retryable=True)
            else:
                try:
                    outcome = ("succeeded", task.encode_result(result), "", "", 0)
                except QueueDataError as exc:
                    outcome = self._failure(
                        run, task, "QueueDataError", exc.message, retryable=False
                    )
        if run.reason == "abort":
            return ("aborted", "", "JobAborted", "aborted while running", 0)
        if run.reason == "release":
            return ("release", run.payload, "", "", 0)
        if run.reason == "lost":
            self._count(run, "lost")
            return None
        return outcome

    def _failure(
        self, run: _Run, task: Task[Any, Any], error_type: str, message: str, retryable: bool
    ) -> _Outcome:
        if retryable and run.attempt < task.retry.attempts:
            delay_ms = round(task.retry.delay(run.attempt) * 1000)
            return ("retry", run.payload, error_type, message, delay_ms)
        return ("failed", "", error_type, message, 0)

    async def _finish_loop(self) -> None:
        """Record the outcomes handed over, all those waiting in one COMPLETE call; a run
        keeps its slot (and its lease) until its outcome is recorded."""
        while True:
            await self._finishing.wait()
            self._finishing = anyio.Event()
            while self._finished:
                batch, self._finished = self._finished, []
                try:
                    await self._complete(batch)
                finally:
                    self._forget(run for run, _ in batch)

    async def _complete(self, runs: list[tuple[_Run, _Outcome]]) -> list[str]:
        """One COMPLETE call for ``runs``; Redis errors are retried for up to a lease, after
        which the jobs are left to be redelivered. What each counted as."""
        queue, keys = self.queue, self.queue.keys
        args: list[Arg] = [GROUP, queue.config.result_ttl_seconds, keys.prefix, keys.events_full,
                           keys.control_full]  # fmt: skip
        for run, (outcome, value, error_type, message, delay_ms) in runs:
            args += [run.index, run.entry, run.deliveries, outcome, value, delay_ms, error_type,
                     message[:2000], run.job_id, run.task]  # fmt: skip
        job_keys = [keys.delayed, keys.dead, *keys.streams]
        recorded = await self._persist(
            lambda: scripts.run(queue.redis, scripts.COMPLETE, job_keys, args)
        )
        return [
            self._count(run, _COUNTED[outcome[0]] if done else "lost")
            for (run, outcome), done in zip(runs, recorded or [0] * len(runs), strict=True)
        ]

    def _count(self, run: _Run, ended: str) -> str:
        """Count a run's end in the statistics and the metrics."""
        setattr(self._counts, ended, getattr(self._counts, ended) + 1)
        self._telemetry.count(ended, run.task)
        return ended

    async def _persist(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """``call()``, shielded, retrying connection errors for up to one lease (then 0)."""
        delay = _RETRY_FIRST
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.queue.config.lease_seconds):
            while True:
                try:
                    return await call()
                except _TRANSIENT as exc:
                    self._logger.warning("worker %s: %s; retrying", self.name, exc)
                    await anyio.sleep(delay)
                    delay = min(delay * 2, _RETRY_MAX)
        return 0

    async def _measure(self) -> None:
        """Read the queue's depth for the metrics' gauge (only while a meter records)."""
        if self._telemetry.measuring():
            health = await self.queue.health()
            self._telemetry.depth = {
                "waiting": health.waiting,
                "running": health.running,
                "delayed": health.delayed,
                "dead": health.dead_letters,
            }

    async def _progress(self, run: _Run, fraction: float, message: str) -> None:
        await self._confirmed(run)  # a refused run is cancelled (and the script fences it)
        keys = self.queue.keys
        await scripts.run(
            self.queue.redis,
            scripts.PROGRESS,
            [keys.job(run.job_id)],
            [run.deliveries, fraction, message, keys.events_full, run.job_id, run.task],
        )

    def _cancel(self, run: _Run, reason: str) -> None:
        if run.reason is None:
            run.reason = reason
            run.scope.cancel()

    async def _drain(self) -> None:
        """Give running jobs the grace period, then cancel them (they are queued again)."""
        with anyio.move_on_after(self.queue.config.shutdown_grace_seconds):
            while self._running:
                await self._wait_slot()
        for run in list(self._running.values()):
            self._cancel(run, "release")
        while self._running:
            await self._wait_slot()

    # -- background loops --------------------------------------------------------------

    @contextmanager
    def _riding_out(self) -> Generator[None, None, None]:
        """Log and go on after what a background loop rides out: connection errors, and
        streams deleted under it (the read loop makes them again)."""
        try:
            yield
        except _TRANSIENT as exc:
            self._logger.warning("worker %s: %s", self.name, exc)
        except RedisResponseError as exc:
            if exc.code not in _GONE:
                raise
            self._logger.warning("worker %s: %s", self.name, exc)

    async def _forever(self, step: Callable[[], Awaitable[None]], interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            with self._riding_out():
                await step()

    async def _beat(self) -> None:
        queue, keys = self.queue, self.queue.keys
        forget_ms = round(queue.config.lease_seconds * 10_000)
        args: list[Any] = [GROUP, self.name, keys.prefix, forget_ms]
        # A note may come back for a run that ended since; runs whose claim is on the way
        # are left out (their job is not marked theirs yet).
        beating = {job: run for job, run in self._running.items() if run.claimed is None}
        for run in beating.values():
            args += [run.index, run.entry, run.job_id, run.deliveries]
        notes = await scripts.run(
            queue.redis, scripts.HEARTBEAT, [keys.workers, *keys.streams], args
        )
        for job_id, note in notes:
            self._cancel(beating[job_id], note)  # an ended run's scope is gone: no effect

    async def _promote(self, jobs: anyio.abc.TaskGroup | None, free: int) -> tuple[int, float]:
        """Move due delayed jobs to their streams (the blocked reader wakes up) and, from the
        read loop, start up to ``free`` of what is ready in the same script; (how many
        moved, seconds until the next is due or inf)."""
        runs, (moved, next_due, now) = await self._claim("promote", free, [_PROMOTE_LIMIT])
        if jobs is not None:
            self._spawn(jobs, runs)
        due = int(next_due)
        return int(moved), (due - int(now)) / 1000 if due >= 0 else float("inf")

    async def _promote_loop(self) -> None:
        while True:
            self._wake = wake = anyio.Event()
            moved, wait = 0, _RETRY_MAX  # unless the script answers
            sent = anyio.current_time()  # the server read its clock after this
            with self._riding_out():
                moved, wait = await self._promote(None, 0)
            if moved >= _PROMOTE_LIMIT:
                continue
            # From the sending, not the reply: waking up after the round trip is late by it.
            with anyio.CancelScope(deadline=sent + min(wait, _MAX_IDLE_SLEEP)):
                await wake.wait()

    async def _periodic_loop(self) -> None:
        """Fire each periodic schedule at its ticks (a tick missed while Redis was away is
        skipped)."""
        schedules = list(self.queue.periodics.values())
        if not schedules:
            return
        start = _now_ms()
        ticks = {schedule.name: schedule.next_tick(start) for schedule in schedules}
        while True:
            schedule = min(schedules, key=lambda s: ticks[s.name])
            tick = ticks[schedule.name]
            await anyio.sleep(max(0, tick - _now_ms()) / 1000)
            with self._riding_out():
                await self._fire(schedule, tick)
            ticks[schedule.name] = schedule.next_tick(max(tick, _now_ms()))

    async def _fire(self, schedule: Periodic[Any], tick: int) -> None:
        keys = self.queue.keys
        job_id = schedule.job_id(tick)
        created, _, _ = await scripts.run(
            self.queue.redis, scripts.TICK,
            [keys.job(job_id), keys.periodic],
            [job_id, schedule.task.name, schedule.payload, schedule.priority, keys.prefix,
             keys.channels, schedule.name, tick],
        )  # fmt: skip
        self._counts.fired += int(created)

    async def _control_loop(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with self.queue.redis.subscribe(self.queue.keys.control_channel) as messages:
            task_status.started()
            async for message in messages:
                if not isinstance(message.data, str):  # not ours: ours are text
                    continue
                if message.data == "due":
                    self._wake.set()
                elif message.data.startswith("abort:"):
                    run = self._running.get(message.data.removeprefix("abort:"))
                    if run is not None:
                        self._cancel(run, "abort")

    async def _signal_loop(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            task_status.started()
            async for signum in signals:
                self._logger.info("worker %s: signal %s, stopping", self.name, signum)
                self.stop()
