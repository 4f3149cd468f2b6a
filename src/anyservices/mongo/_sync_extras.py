"""The one signature the generator cannot write: ``run_transaction`` on the sync face.

The async face types ``fn`` as returning an awaitable; here it is a plain function, run
in the calling thread by ``call_user`` inside the one ``MongoService.run_transaction``
(retries, commit retries and their log lines live there, not here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .._core._syncface import SyncFace
from ._service import MongoService

if TYPE_CHECKING:
    from ._session import MongoSession

__all__ = ("MongoSyncExtras",)

R = TypeVar("R")


class MongoSyncExtras(SyncFace[MongoService]):
    """``run_transaction`` with a plain ``fn``."""

    def run_transaction(self, fn: Callable[[MongoSession], R], *, max_retries: int = 3) -> R:
        """Run ``fn(session)`` in a transaction, retrying it whole on transient errors."""
        run: Callable[..., Any] = self._wrapped.run_transaction
        return cast("R", self._portal.call(run, fn, max_retries=max_retries))
