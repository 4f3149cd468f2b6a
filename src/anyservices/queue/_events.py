"""The queue's job events: a typed stream for users, and result waiting on top of it."""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, cast

import anyio
import anyio.abc

from ._errors import map_errors
from ._types import TERMINAL, JobEvent

if TYPE_CHECKING:
    from ..redis import RedisService, Subscription

__all__ = ("JobEvents", "ResultWatch")

_TERMINAL = frozenset(state.value for state in TERMINAL)


class JobEvents:
    """An async iterator of :class:`JobEvent` (yielded by ``QueueService.events()``)."""

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription

    def __aiter__(self) -> JobEvents:
        return self

    async def __anext__(self) -> JobEvent:
        message = await self._subscription.__anext__()
        with map_errors("a job event", operation="events", resource=message.channel):
            return JobEvent.model_validate_json(message.data)


class ResultWatch:
    """Wakes result waiters when their job reaches a final state.

    One subscription per service, opened by the first waiter in the service's task
    group. Waiters re-read the job on each wake-up and at least every second, so a
    message lost during a reconnect delays a result by a second at most.
    """

    def __init__(self, redis: RedisService, channel: str) -> None:
        self._redis = redis
        self._channel = channel
        self._waiting: dict[str, set[anyio.Event]] = {}
        self._lock = anyio.Lock()
        self._listening = False

    async def ensure_listening(self, task_group: anyio.abc.TaskGroup) -> None:
        async with self._lock:
            if self._listening:
                return
            await task_group.start(self._listen)
            self._listening = True

    async def _listen(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        subscription: AbstractAsyncContextManager[Subscription] = self._redis.subscribe(
            self._channel
        )
        async with subscription as messages:
            task_status.started()
            async for message in messages:
                if isinstance(message.data, str):  # ours are JSON text; others are not ours
                    self._dispatch(message.data)

    def _dispatch(self, data: str) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        fields = cast("dict[str, object]", event)
        waiters = self._waiting.get(str(fields.get("job_id")))
        if waiters and fields.get("state") in _TERMINAL:
            for waiter in waiters:
                waiter.set()

    def register(self, job_id: str) -> anyio.Event:
        event = anyio.Event()
        self._waiting.setdefault(job_id, set()).add(event)
        return event

    def unregister(self, job_id: str, event: anyio.Event) -> None:
        waiters = self._waiting.get(job_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiting[job_id]
