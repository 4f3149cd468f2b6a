"""MongoSession: the handle ``transaction()`` yields, to pass as ``session=``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymongo.client_session import ClientSession

__all__ = ("MongoSession",)


class MongoSession:
    """A transaction in progress. Pass it as ``session=`` to the data methods.

    It wraps a PyMongo ``ClientSession`` that only our worker threads touch, one call
    at a time (so do not share it between concurrent tasks).
    """

    def __init__(self, session: ClientSession) -> None:
        self._session = session

    def __repr__(self) -> str:
        return f"<MongoSession in_transaction={self.in_transaction}>"

    @property
    def in_transaction(self) -> bool:
        """True until the transaction commits or aborts."""
        return self._session.in_transaction

    @property
    def driver_session(self) -> ClientSession:
        """The PyMongo session (blocking: use it only from a thread of your own)."""
        return self._session
