"""QueueService: enqueue typed jobs, follow them, and manage the dead letters."""

from __future__ import annotations

import math
import os
from collections.abc import AsyncGenerator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload

import anyio
import anyio.abc
import pydantic_core
from pydantic import TypeAdapter

from .._core._service import Service
from .._core._telemetry import NOOP, job_attributes, queue_telemetry, traceparent
from ..redis import RedisError, RedisResponseError, RedisService
from ..redis._errors import response_error
from . import _scripts as scripts
from ._config import QueueConfig, Retry
from ._errors import (
    JobAbortedError,
    JobFailedError,
    JobNotFoundError,
    QueueError,
    QueueTimeoutError,
    map_errors,
)
from ._events import JobEvents, ResultWatch
from ._handle import JobHandle
from ._keys import GROUP, QueueKeys
from ._periodic import Periodic
from ._statistics import QueueHealth, QueueStatistics
from ._task import EnqueueOptions, Task, TaskDecorator, decode
from ._types import TERMINAL, DeadLetter, JobInfo, JobState, from_ms

if TYPE_CHECKING:
    from .._core._portal import Portal
    from ..redis._protocol import Arg
    from ._sync import SyncQueueService

__all__ = ("QueueService",)

P = TypeVar("P")
R = TypeVar("R")

_ANY: TypeAdapter[Any] = TypeAdapter(Any)
_RECHECK_SECONDS = 1.0  # result waiters re-read the job at least this often
_ENQUEUE_ARGS = 7  # ARGV items per job of the ENQUEUE script


class _Sending:
    """Enqueues waiting for one ENQUEUE call: their job keys and arguments, in order."""

    __slots__ = ("args", "done", "keys", "replies", "sent")

    def __init__(self) -> None:
        self.keys: list[str] = []  # "" for a job withdrawn before it was sent
        self.args: list[Arg] = []
        self.done = anyio.Event()
        self.sent = False
        #: The script's reply per job, or why there is none.
        self.replies: list[Any] | RedisError | None = None


class QueueService(Service[QueueConfig]):
    """A job queue on Redis Streams: ``async with QueueService(QueueConfig(name=...))``.

    Register tasks with ``@queue.task(...)``, enqueue with ``await queue.enqueue(task,
    payload)``, run them with ``Worker(queue).run()``.
    """

    service_name = "queue"

    def __init__(self, config: QueueConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.redis = RedisService(config.redis.model_copy(update={"decode_responses": True}))
        self.keys = QueueKeys(config.redis.namespace, config.name, config.priority_levels)
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.periodics: dict[str, Periodic[Any]] = {}
        self._watch = ResultWatch(self.redis, self.keys.events_channel)
        self._task_group: anyio.abc.TaskGroup | None = None
        self._sending: _Sending | None = None  # the enqueues the next ENQUEUE call sends
        self._enqueued = self._deduplicated = self._aborts = 0
        self._telemetry = queue_telemetry(config.name, "send")

    def _describe(self) -> str:
        return f"{self._config.name} on {self._config.redis.describe()}"

    async def _open(self, stack: AsyncExitStack) -> None:
        await stack.enter_async_context(self.redis)
        await self._ensure_streams()
        stack.callback(self._drop_sending)  # after the task group: its sender is gone
        self._task_group = await self._start_task_group(stack)

    def __blocking__(self, portal: Portal) -> SyncQueueService:
        from .._core._syncface import sync_face  # noqa: PLC0415 -- only blocking() needs it

        face: SyncQueueService = sync_face(portal, self)  # registered by ._sync
        return face

    def statistics(self) -> QueueStatistics:
        """What this process did: jobs enqueued, deduplicated, aborts asked for."""
        return QueueStatistics(self._enqueued, self._deduplicated, self._aborts)

    async def probe(self) -> None:
        """Raise the reason the queue is not ready: Redis unreachable or refusing
        (a ``RedisError``), or a ready stream or its consumer group missing (a
        ``QueueError``: deleted under the queue; its workers make them again). One script."""
        self._check_open()
        missing = await scripts.run(self.redis, scripts.PROBE, self.keys.streams, [GROUP])
        if missing:
            raise QueueError(
                f"queue {self._config.name!r}: the stream {missing!r} or its consumer group "
                f"{GROUP!r} is missing (deleted?)",
                service="queue",
                operation="probe",
                resource=missing,
            )

    # -- tasks ---------------------------------------------------------------------

    def task(
        self, name: str | None = None, *, retry: Retry | None = None, timeout: float | None = None
    ) -> TaskDecorator:
        """Register ``async def f(ctx, payload) -> R`` (or a plain ``def``) as a task.

        ``name`` defaults to ``module.qualname``; ``retry`` to the queue's; ``timeout``
        (seconds) cancels a run that takes longer, which counts as a failure.
        """
        return TaskDecorator(self, name, retry, timeout)

    def register(self, task: Task[Any, Any]) -> None:
        """Make ``task`` known to this queue's workers (``task()`` does it)."""
        if self.tasks.get(task.name, task) is not task:
            raise ValueError(f"a task named {task.name!r} is registered already")
        self.tasks[task.name] = task

    def periodic(
        self,
        task: Task[P, Any],
        payload: P,
        *,
        cron: str | None = None,
        every: float | timedelta | None = None,
        name: str | None = None,
        priority: int | None = None,
    ) -> Periodic[P]:
        """Enqueue ``task(payload)`` on a schedule, once per tick across all workers.

        ``every`` (seconds or a timedelta) ticks at the multiples of the interval since
        the epoch; ``cron`` takes a cron expression (5 fields, or 6 with seconds last;
        UTC; needs ``anyservices[cron]``). ``name`` (default: the task's) tells two
        schedules of one task apart. The workers of this queue fire it.
        """
        schedule = Periodic(
            task, payload, cron=cron, every=every, name=name, priority=self._priority(priority)
        )
        if schedule.name in self.periodics:
            raise ValueError(f"a periodic schedule named {schedule.name!r} is registered already")
        self.periodics[schedule.name] = schedule
        return schedule

    # -- enqueue and follow ----------------------------------------------------------

    @overload
    async def enqueue(
        self, task: Task[P, R], payload: P, **options: Unpack[EnqueueOptions]
    ) -> JobHandle[R]: ...
    @overload
    async def enqueue(
        self, task: str, payload: Any, *, result_type: type[R], **options: Unpack[EnqueueOptions]
    ) -> JobHandle[R]: ...
    @overload
    async def enqueue(
        self, task: str, payload: Any, **options: Unpack[EnqueueOptions]
    ) -> JobHandle[Any]: ...
    async def enqueue(
        self,
        task: Task[Any, Any] | str,
        payload: Any,
        *,
        result_type: type[Any] | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> JobHandle[Any]:
        """Queue a job; returns its handle.

        Options: ``delay`` (seconds) or ``at`` (an aware datetime) schedule it for
        later. ``job_id`` and ``unique_key`` deduplicate: while a job with that id, or
        holding that key, is queued, delayed or running, the existing job's handle
        comes back instead. ``priority`` 0 (default) .. ``priority_levels - 1``;
        higher runs first. A task given by name travels with its payload as JSON
        (``result_type`` types the handle).
        """
        self._check_open()
        if isinstance(task, Task):
            name, raw, adapter = task.name, task.encode_payload(payload), task.result_adapter
        else:
            name, adapter = task, _ANY if result_type is None else TypeAdapter(result_type)
            with map_errors(f"the payload of {name}", operation="enqueue", resource=name):
                raw = pydantic_core.to_json(payload).decode()
        unique_key = options.get("unique_key")
        level = self._priority(options.get("priority"))
        delay_ms = _delay_ms(options.get("delay"), options.get("at"))
        job_id = options.get("job_id") or os.urandom(16).hex()  # a uuid4's entropy, faster
        keys = self.keys
        sending = job_attributes(job_id, name)  # a PRODUCER span "send <queue>" (_telemetry)
        with self._telemetry.operation("send", self._config.name, sending) as sent:
            carried = "" if sent is NOOP else traceparent()  # the job's runs join this trace
            args: list[Arg] = [job_id, name, raw, level, delay_ms, unique_key or "", carried]
            created, holder = await self._send(keys.job(job_id), args, alone=sent is not NOOP)
        if created:
            self._enqueued += 1
        else:
            self._deduplicated += 1
        return JobHandle(self, holder, adapter)

    async def _send(self, key: str, args: list[Arg], *, alone: bool) -> tuple[int, str]:
        """Enqueue one job: ``alone`` (telemetry records) in an ENQUEUE call of its own, a
        child of the enqueue's span; else with the others made meanwhile."""
        if alone:
            keys = self.keys
            reply = (
                await scripts.run(
                    self.redis, scripts.ENQUEUE, [key], [keys.prefix, keys.channels, *args]
                )
            )[0]
        else:
            reply = await self._batched(key, args)
        if reply[0] == -1:
            raise response_error(str(reply[1]), "EVALSHA")
        return int(reply[0]), str(reply[1])

    async def _batched(self, key: str, args: list[Arg]) -> list[Any]:
        """The reply for one job sent with the others made meanwhile: the enqueues made
        before the sending task runs go in one ENQUEUE call (several may be in flight)."""
        if self._task_group is None:  # pragma: no cover - set when the service opened
            raise AssertionError("the service is open")
        batch = self._sending
        if batch is None:
            batch = self._sending = _Sending()
            self._task_group.start_soon(self._flush, batch)
        index = len(batch.keys)
        batch.keys.append(key)
        batch.args += args
        try:
            await batch.done.wait()
        except BaseException:  # cancelled: a job not sent yet never is
            if not batch.sent:
                batch.keys[index] = ""
            raise
        if isinstance(batch.replies, list):
            reply: list[Any] = batch.replies[index]
            return reply
        raise batch.replies or QueueError(
            f"queue {self._config.name!r} closed before the job was sent",
            service="queue",
            operation="enqueue",
            resource=str(args[0]),
        )

    async def _flush(self, batch: _Sending) -> None:
        """Send one batch of enqueues (the jobs withdrawn before it went are left out)."""
        self._sending = None
        batch.sent = True
        keys: list[str] = []
        args: list[Arg] = [self.keys.prefix, self.keys.channels]
        for i, key in enumerate(batch.keys):
            if key:
                keys.append(key)
                args += batch.args[i * _ENQUEUE_ARGS : (i + 1) * _ENQUEUE_ARGS]
        try:
            replies: list[Any] = (
                await scripts.run(self.redis, scripts.ENQUEUE, keys, args) if keys else []
            )
            sent = iter(replies)
            batch.replies = [next(sent) if key else [] for key in batch.keys]
        except RedisError as exc:
            batch.replies = exc
        finally:
            batch.done.set()

    def _drop_sending(self) -> None:
        """Closing: the enqueues whose sender never ran fail (their jobs were not sent)."""
        if self._sending is not None:
            self._sending.done.set()
            self._sending = None

    def _priority(self, priority: int | None) -> int:
        if priority is None:
            return 0
        levels = self._config.priority_levels
        if not 0 <= priority < levels:
            raise ValueError(f"priority must be 0 to {levels - 1}, not {priority}")
        return priority

    @overload
    def handle(self, job_id: str) -> JobHandle[Any]: ...
    @overload
    def handle(self, job_id: str, result_type: type[R]) -> JobHandle[R]: ...
    def handle(self, job_id: str, result_type: type[Any] | None = None) -> JobHandle[Any]:
        """The handle of a job enqueued earlier (perhaps by another process)."""
        return JobHandle(self, job_id, _ANY if result_type is None else TypeAdapter(result_type))

    async def info(self, job_id: str) -> JobInfo:
        """Where the job stands; ``JobNotFoundError`` if unknown or expired."""
        fields = await self._job_fields(job_id)
        return _info(job_id, fields)

    async def _job_fields(self, job_id: str) -> dict[str, str]:
        self._check_open()
        fields: dict[str, str] = await self.redis.execute_command("HGETALL", self.keys.job(job_id))
        if not fields:
            raise JobNotFoundError(
                f"no job {job_id!r} in queue {self._config.name!r} (or its result expired)",
                service="queue",
                resource=job_id,
            )
        return fields

    async def abort(self, job_id: str) -> bool:
        """Abort a job: a waiting one at once, a running one promptly (its worker cancels
        it). False when it had already finished."""
        self._check_open()
        keys = self.keys
        outcome = await scripts.run(
            self.redis,
            scripts.ABORT,
            [keys.job(job_id), keys.delayed],
            [keys.prefix, GROUP, keys.events_full, keys.control_full, job_id,
             self._config.result_ttl_seconds],
        )  # fmt: skip
        if outcome == "missing":
            raise JobNotFoundError(
                f"no job {job_id!r} in queue {self._config.name!r}",
                service="queue",
                resource=job_id,
            )
        self._aborts += 1
        return outcome in {"aborted", "aborting"}

    async def _wait_result(
        self,
        job_id: str,
        adapter: TypeAdapter[R],
        timeout: float | None,  # noqa: ASYNC109 -- the contract's result(timeout=)
    ) -> R:
        """Wait for the job to finish; its result, or the error it ended with."""
        self._check_open()
        if self._task_group is None:  # pragma: no cover - set when the service opened
            raise AssertionError("the service is open")
        await self._watch.ensure_listening(self._task_group)
        waiter = self._watch.register(job_id)
        try:
            with anyio.fail_after(math.inf if timeout is None else timeout):
                while True:
                    fields = await self._job_fields(job_id)
                    if fields.get("state") in TERMINAL:
                        return _outcome(job_id, fields, adapter)
                    with anyio.move_on_after(_RECHECK_SECONDS):
                        await waiter.wait()
                    waiter = self._rearm(job_id, waiter)
        except TimeoutError:
            raise QueueTimeoutError(
                f"job {job_id!r} did not finish within {timeout} s",
                service="queue",
                operation="result",
                resource=job_id,
            ) from None
        finally:
            self._watch.unregister(job_id, waiter)

    def _rearm(self, job_id: str, waiter: anyio.Event) -> anyio.Event:
        if not waiter.is_set():
            return waiter
        self._watch.unregister(job_id, waiter)
        return self._watch.register(job_id)

    # -- events ----------------------------------------------------------------------

    @asynccontextmanager
    async def events(self) -> AsyncGenerator[JobEvents, None]:
        """Every state change of every job of this queue, as :class:`JobEvent` models:
        ``async with queue.events() as events: async for event in events: ...``."""
        self._check_open()
        async with self.redis.subscribe(self.keys.events_channel) as subscription:
            yield JobEvents(subscription)

    # -- dead letters ----------------------------------------------------------------

    async def dead_letters(self, count: int = 100) -> list[DeadLetter]:
        """The oldest ``count`` dead letters."""
        self._check_open()
        entries = await self.redis.execute_command(
            "XRANGE", self.keys.dead, "-", "+", "COUNT", count
        )
        return [_dead_letter(entry_id, fields) for entry_id, fields in entries]

    async def requeue_dead(self, entry_ids: Sequence[str] | None = None) -> int:
        """Queue dead letters again as fresh jobs (all of them when ``entry_ids`` is None);
        returns how many were queued."""
        self._check_open()
        if entry_ids is None:
            entries = await self.redis.execute_command("XRANGE", self.keys.dead, "-", "+")
            entry_ids = [entry_id for entry_id, _ in entries]
        if not entry_ids:
            return 0
        keys = self.keys
        moved: int = await scripts.run(
            self.redis,
            scripts.REQUEUE_DEAD,
            [keys.dead],
            [keys.prefix, keys.events_full, *entry_ids],
        )
        return moved

    # -- health ----------------------------------------------------------------------

    async def health(self) -> QueueHealth:
        """Waiting and running jobs, the oldest unfinished job's age, delayed jobs and how
        late the most overdue is, dead letters and live workers, in one atomic read."""
        self._check_open()
        keys = self.keys
        reply = await scripts.run(
            self.redis,
            scripts.HEALTH,
            [keys.delayed, keys.dead, keys.workers, *keys.streams],
            [GROUP, round(self._config.lease_seconds * 1000)],
        )
        now, waiting, running, oldest, delayed, due, dead, live = (int(v) for v in reply)
        return QueueHealth(
            waiting=waiting,
            running=running,
            oldest_pending_seconds=0.0 if oldest < 0 else max(0.0, (now - oldest) / 1000),
            delayed=delayed,
            delayed_lag_seconds=0.0 if due < 0 else max(0.0, (now - due) / 1000),
            dead_letters=dead,
            live_workers=live,
        )

    async def _ensure_streams(self) -> None:
        """Create the ready streams and their consumer group (idempotent)."""
        for stream in self.keys.streams:
            try:
                await self.redis.execute_command("XGROUP", "CREATE", stream, GROUP, "0", "MKSTREAM")
            except RedisResponseError as exc:
                if exc.code != "BUSYGROUP":
                    raise


def _delay_ms(delay: float | None, at: datetime | None) -> int:
    if delay is not None and at is not None:
        raise ValueError("give delay or at, not both")
    if at is not None:
        if at.tzinfo is None:
            raise ValueError("at must be an aware datetime (with a time zone)")
        delay = (at - datetime.now(UTC)).total_seconds()
    if delay is None or delay <= 0:
        return 0
    return max(1, math.ceil(delay * 1000))


def _info(job_id: str, fields: dict[str, str]) -> JobInfo:
    progress = fields.get("progress")
    return JobInfo(
        job_id=job_id,
        task=fields.get("task", ""),
        state=JobState(fields["state"]),
        attempts=int(fields.get("attempt", 0)),
        priority=int(fields.get("priority", 0)),
        enqueued_at=from_ms(fields.get("enqueued_at")),
        started_at=from_ms(fields.get("started_at")),
        finished_at=from_ms(fields.get("finished_at")),
        due_at=from_ms(fields.get("due")),
        progress=None if progress is None else float(progress),
        progress_message=fields.get("message") or None,
        error_type=fields.get("error_type"),
        error_message=fields.get("error_message"),
    )


def _outcome(job_id: str, fields: dict[str, str], adapter: TypeAdapter[R]) -> R:
    state = fields["state"]
    if state == JobState.SUCCEEDED:
        return decode(adapter, fields["result"], f"the result of {fields['task']}", job_id)
    error_type, error_message = fields.get("error_type", ""), fields.get("error_message", "")
    if state == JobState.ABORTED:
        raise JobAbortedError(
            f"job {job_id!r} was aborted", service="queue", operation="result", resource=job_id
        )
    raise JobFailedError(
        f"job {job_id!r} ({fields['task']}) {state}: {error_type}: {error_message}",
        error_type=error_type,
        error_message=error_message,
        attempts=int(fields.get("attempt", 0)),
        resource=job_id,
    )


def _dead_letter(entry_id: str, fields: list[str]) -> DeadLetter:
    f = dict(zip(fields[::2], fields[1::2], strict=True))
    died = from_ms(f["at"])
    if died is None:  # pragma: no cover - the scripts always write it
        raise AssertionError("dead letter without a time")
    return DeadLetter(
        entry_id=entry_id,
        job_id=f["id"],
        task=f["t"],
        payload=f["p"],
        error_type=f["et"],
        error_message=f["em"],
        attempts=int(f["a"]),
        died_at=died,
    )
