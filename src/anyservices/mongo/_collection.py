"""MongoCollection: what ``get_collection`` returns, a safe (async) shape.

PyMongo's Collection blocks; handing it to async code would stall the event loop, so
``get_collection`` returns this thin wrapper instead: the service's data methods with
the collection filled in, each a coroutine that runs the driver call in a worker thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ._results import BulkWriteResult, UpdateResult
    from ._service import MongoService
    from ._session import MongoSession
    from ._types import Document, IndexKeys, ModelT, Query, Sort, WriteOperation

__all__ = ("MongoCollection",)


class MongoCollection:
    """One collection of a :class:`MongoService`; every method is its namesake on the service."""

    def __init__(self, service: MongoService, name: str) -> None:
        self._service = service
        self._name = name

    def __repr__(self) -> str:
        return f"<MongoCollection {self._name!r}>"

    @property
    def name(self) -> str:
        return self._name

    async def insert_one(self, document: Query, *, session: MongoSession | None = None) -> str:
        return await self._service.insert_one(self._name, document, session=session)

    async def insert_many(
        self,
        documents: Sequence[Query],
        ordered: bool = True,
        *,
        session: MongoSession | None = None,
    ) -> list[str]:
        return await self._service.insert_many(self._name, documents, ordered, session=session)

    async def find_one(
        self,
        query: Query,
        projection: Query | None = None,
        *,
        session: MongoSession | None = None,
    ) -> Document | None:
        return await self._service.find_one(self._name, query, projection, session=session)

    async def find_many(
        self,
        query: Query,
        projection: Query | None = None,
        sort: Sort | None = None,
        limit: int = 0,
        skip: int = 0,
        *,
        session: MongoSession | None = None,
    ) -> list[Document]:
        return await self._service.find_many(
            self._name, query, projection, sort, limit, skip, session=session
        )

    def find_iter(
        self,
        query: Query,
        projection: Query | None = None,
        sort: Sort | None = None,
        limit: int = 0,
        skip: int = 0,
        *,
        batch_size: int | None = None,
        session: MongoSession | None = None,
    ) -> AsyncIterator[Document]:
        return self._service.find_iter(
            self._name, query, projection, sort, limit, skip, batch_size=batch_size, session=session
        )

    async def update_one(
        self,
        query: Query,
        update: Query | Sequence[Query],
        upsert: bool = False,
        *,
        session: MongoSession | None = None,
    ) -> UpdateResult:
        return await self._service.update_one(self._name, query, update, upsert, session=session)

    async def update_many(
        self,
        query: Query,
        update: Query | Sequence[Query],
        upsert: bool = False,
        *,
        session: MongoSession | None = None,
    ) -> UpdateResult:
        return await self._service.update_many(self._name, query, update, upsert, session=session)

    async def delete_one(self, query: Query, *, session: MongoSession | None = None) -> int:
        return await self._service.delete_one(self._name, query, session=session)

    async def delete_many(self, query: Query, *, session: MongoSession | None = None) -> int:
        return await self._service.delete_many(self._name, query, session=session)

    async def count_documents(self, query: Query, *, session: MongoSession | None = None) -> int:
        return await self._service.count_documents(self._name, query, session=session)

    async def aggregate(
        self, pipeline: Sequence[Query], *, session: MongoSession | None = None
    ) -> list[Document]:
        return await self._service.aggregate(self._name, pipeline, session=session)

    async def create_index(self, keys: IndexKeys, unique: bool = False, **kwargs: Any) -> str:
        return await self._service.create_index(self._name, keys, unique, **kwargs)

    async def bulk_write(
        self,
        operations: Sequence[WriteOperation],
        ordered: bool = True,
        *,
        session: MongoSession | None = None,
    ) -> BulkWriteResult:
        return await self._service.bulk_write(self._name, operations, ordered, session=session)

    async def find_one_model(
        self, query: Query, model_class: type[ModelT], *, session: MongoSession | None = None
    ) -> ModelT | None:
        return await self._service.find_one_model(self._name, query, model_class, session=session)

    async def insert_one_model(
        self, model: BaseModel, *, session: MongoSession | None = None
    ) -> str:
        return await self._service.insert_one_model(self._name, model, session=session)
