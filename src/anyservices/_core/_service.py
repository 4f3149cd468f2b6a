"""The lifecycle every service shares.

Constructing a service does no I/O. ``async with service`` (or ``await
service.__aenter__()``) connects and fails fast; ``__aexit__``/``aclose()`` releases
everything, in reverse order. A service that runs background tasks enters its task
group in ``_open`` through the exit stack, so it owns them; cleanups that await are
registered with :func:`shielded` so that they finish even when the closer is cancelled.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Generic, ParamSpec, Self, TypeVar

import anyio

from . import _gauges
from ._config import ServiceConfig
from ._errors import ServiceClosedError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from ._gauges import Reading
    from ._portal import Portal

__all__ = ("Service", "State", "shielded")

ConfigT = TypeVar("ConfigT", bound=ServiceConfig)
P = ParamSpec("P")
R = TypeVar("R")


def shielded(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap a cleanup coroutine function so that cancellation cannot cut it short."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # A list: type checkers cannot know that a shielded scope swallows nothing.
        result: list[R] = []
        with anyio.CancelScope(shield=True):
            result.append(await func(*args, **kwargs))
        return result[0]

    return wrapper


class State(enum.Enum):
    NEW = "new"
    OPENING = "opening"
    OPEN = "open"
    CLOSED = "closed"


class Service(Generic[ConfigT]):
    """Base of every service: config first, optional ``logger``, one ``async with``."""

    #: Short name used in logger names and error context ("redis", "mongo", ...).
    service_name: ClassVar[str] = "service"

    def __init__(self, config: ConfigT, *, logger: logging.Logger | None = None) -> None:
        self._config = config
        self._logger = logger or logging.getLogger(f"anyservices.{self.service_name}")
        self._state = State.NEW
        self._exit_stack: AsyncExitStack | None = None

    @property
    def config(self) -> ConfigT:
        return self._config

    @property
    def state(self) -> State:
        return self._state

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._describe()} {self._state.value}>"

    def _describe(self) -> str:
        """A short, secret-free description of the target (overridden per service)."""
        return ""

    def _gauges(self) -> Mapping[str, int]:
        """Current values of this service's OpenTelemetry gauges, by name (``_gauges.py``)."""
        return {}

    def _gauge_readings(self) -> list[Reading]:
        service, target = self.service_name, self._describe()
        attributes = {"anyservices.service": service, "anyservices.target": target}
        return [(name, value, attributes) for name, value in self._gauges().items()]

    async def probe(self) -> None:
        """Raise the reason this service is not ready; return when it is.

        Each service asks its server the cheapest question that proves it can serve
        (Redis PING, MongoDB's ``ping``, one authenticated S3 request, the HTTP
        ``health_path``), once, without retrying; the caller bounds it in time
        (``with anyio.fail_after(...)``). This default only checks that it is open.
        """
        self._check_open()

    async def _open(self, stack: AsyncExitStack) -> None:
        """Connect and register cleanups on ``stack`` (overridden per service)."""

    async def _start_task_group(self, stack: AsyncExitStack) -> TaskGroup:
        """Enter a task group this service owns; closing the service cancels it."""
        task_group = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(task_group.cancel_scope.cancel)  # LIFO: cancel, then wait for the tasks
        return task_group

    def _check_open(self) -> None:
        if self._state is not State.OPEN:
            raise ServiceClosedError(
                f"{type(self).__name__} is {self._state.value}: use it inside `async with`",
                service=self.service_name,
            )

    async def __aenter__(self) -> Self:
        if self._state is not State.NEW:
            raise ServiceClosedError(
                f"{type(self).__name__} can be entered only once (it is {self._state.value})",
                service=self.service_name,
            )
        self._state = State.OPENING
        stack = AsyncExitStack()
        try:
            await stack.__aenter__()
            await self._open(stack)
        except BaseException:
            self._state = State.CLOSED
            await stack.aclose()
            raise
        self._exit_stack = stack
        self._state = State.OPEN
        _gauges.track(self)
        self._logger.debug("opened %r", self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._exit_stack = self._exit_stack, None
        self._state = State.CLOSED
        _gauges.untrack(self)
        if stack is not None:
            # A task group on the stack must be exited in the scope it was entered in,
            # so the stack is not shielded as a whole: awaiting cleanups shield
            # themselves (see `shielded`). The caller's exception is not passed in:
            # the service releases the same way either way, and the exception
            # propagates unchanged (a task group would wrap it in a group).
            await stack.aclose()
            self._logger.debug("closed %r", self)

    async def aclose(self) -> None:
        """Release every connection and task. Idempotent."""
        await self.__aexit__(None, None, None)

    async def close(self) -> None:
        """Alias of :meth:`aclose`, kept from the original specification."""
        await self.aclose()

    def __blocking__(self, portal: Portal) -> object:
        """The sync face of this service on ``portal`` (each service narrows the type)."""
        raise NotImplementedError
