"""A tiny service used to test the shared lifecycle, blocking() and the test harness."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from pydantic import SecretStr

from anyservices._core._config import ServiceConfig
from anyservices._core._service import Service, shielded
from anyservices._core._syncface import SyncFace

if TYPE_CHECKING:
    from anyservices._core._portal import Portal


class ToyConfig(ServiceConfig):
    env_prefix = "ANYSERVICES_TOY_"
    host: str = "127.0.0.1"
    port: int = 1
    password: SecretStr | None = None
    fail_open: bool = False


class ToyService(Service[ToyConfig]):
    service_name = "toy"

    def __init__(self, config: ToyConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.events: list[str] = []

    async def _open(self, stack: AsyncExitStack) -> None:
        tg = await self._start_task_group(stack)
        stack.push_async_callback(shielded(self._cleanup))
        if self.config.fail_open:
            raise ConnectionRefusedError("toy refuses")
        self.events.append("open")
        tg.start_soon(anyio.sleep_forever)  # an owned background task

    async def _cleanup(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.events.append("closed")

    async def echo(self, value: str) -> str:
        self._check_open()
        await anyio.lowlevel.checkpoint()
        return value

    @asynccontextmanager
    async def scoped(self) -> AsyncGenerator[str, None]:
        async with anyio.create_task_group():  # must be exited by the entering task
            yield "inside"

    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    @property
    def label(self) -> str:
        return f"toy:{self.config.port}"

    def child(self) -> ToyService:
        """A plain method handing back a service object (its face wraps it too)."""
        return self

    def __aiter__(self) -> AsyncIterator[int]:
        return self.count(2)

    def __blocking__(self, portal: Portal) -> SyncToy:
        return SyncToy(portal, self)


class SyncToy(SyncFace[ToyService]):
    """Hand-written here; real services get theirs from scripts/gen_sync_faces.py."""

    def echo(self, value: str) -> str:
        return self._portal.call(self._wrapped.echo, value)

    def scoped(self) -> Any:
        return self._portal.wrap_cm(self._wrapped.scoped())

    def count(self, n: int) -> Any:
        return self._portal.wrap_iter(self._wrapped.count(n))

    @property
    def label(self) -> str:
        return self._wrapped.label

    def child(self) -> SyncToy:
        return SyncToy(self._portal, self._wrapped.child())

    def __iter__(self) -> Iterator[int]:
        return self._portal.wrap_iter(self._wrapped.count(2))
