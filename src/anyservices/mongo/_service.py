"""MongoService: PyMongo's synchronous client, driven from worker threads.

PyMongo's AsyncMongoClient runs only on asyncio, so the one implementation (asyncio,
trio and the sync face alike) runs the synchronous client's calls through
``anyio.to_thread.run_sync`` under a ``CapacityLimiter`` the size of the connection
pool (see ``anyservices._core._threads`` for the cancellation semantics). The caller's
deadline and ``timeout_ms`` reach the driver as a PyMongo CSOT timeout
(``pymongo.timeout``) applied inside the worker thread.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import pymongo
from pydantic import BaseModel
from pymongo import (
    DeleteMany,
    DeleteOne,
    InsertOne,
    MongoClient,
    ReplaceOne,
    UpdateMany,
    UpdateOne,
)

from .._core._service import Service
from .._core._threads import ThreadRunner, budget
from ._collection import MongoCollection
from ._config import MongoConfig
from ._errors import MongoDataError, MongoError, map_errors
from ._models import from_document, id_text, to_document
from ._results import BulkWriteResult, UpdateResult
from ._session import MongoSession
from ._statistics import MongoStatistics
from ._types import Document, IndexKeys, ModelT, Query, Sort, WriteOperation

if TYPE_CHECKING:
    import logging

    from pymongo.change_stream import ChangeStream
    from pymongo.client_session import ClientSession
    from pymongo.collection import Collection
    from pymongo.cursor import Cursor
    from pymongo.database import Database

    from .._core._portal import Portal
    from ._sync import SyncMongoService

__all__ = ("MongoService",)

T = TypeVar("T")

_BULK_OPS: dict[str, Callable[..., Any]] = {
    "insert_one": InsertOne,
    "update_one": UpdateOne,
    "update_many": UpdateMany,
    "replace_one": ReplaceOne,
    "delete_one": DeleteOne,
    "delete_many": DeleteMany,
}


def _driver_session(session: MongoSession | None) -> ClientSession | None:
    return None if session is None else session.driver_session


class _DriverTimeout:
    """A runner ``wrap``: the call runs under ``pymongo.timeout(seconds)`` in its thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, func: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            with pymongo.timeout(self.seconds):
                return func()

        return run


def _next_batch(iterator: Cursor[Document], size: int) -> list[Document]:
    return list(itertools.islice(iterator, size))


class MongoService(Service[MongoConfig]):
    """MongoDB on asyncio, trio and the sync face.

    ``async with MongoService(MongoConfig(url=..., database="app")) as mongo:``
    """

    service_name = "mongo"

    def __init__(self, config: MongoConfig, *, logger: logging.Logger | None = None) -> None:
        super().__init__(config, logger=logger)
        self._runner = ThreadRunner(config.max_pool_size, name="mongo")
        self._timeout = None if config.timeout_ms is None else config.timeout_ms / 1000
        self._client: MongoClient[Document] | None = None
        self._db: Database[Document] | None = None

    def _describe(self) -> str:
        return f"{self.config.safe_url} db={self.config.database}"

    async def _open(self, stack: AsyncExitStack) -> None:
        url = self.config.url.get_secret_value()
        options = self.config.client_options()
        client: MongoClient[Document] = await self._call(
            functools.partial(MongoClient, url, document_class=dict, **options), "connect"
        )

        async def close_client() -> None:
            with anyio.CancelScope(shield=True):
                await self._call(client.close, "close")

        stack.push_async_callback(close_client)
        # The first ping waits for server selection, not for ``timeout_ms``.
        await self._call(
            functools.partial(client.admin.command, "ping"),
            "ping",
            driver_timeout=self.config.server_selection_timeout_ms / 1000,
        )
        self._client = client
        self._db = client[self.config.database]

    def __blocking__(self, portal: Portal) -> SyncMongoService:
        from .._core._syncface import sync_face  # noqa: PLC0415 -- only blocking() needs it

        face: SyncMongoService = sync_face(portal, self)  # registered by ._sync
        return face

    # -- internals -------------------------------------------------------------------

    def _collection(self, name: str) -> Collection[Document]:
        self._check_open()
        assert self._db is not None  # noqa: S101 -- open implies a database
        return self._db[name]

    async def _call(
        self,
        func: Callable[[], T],
        operation: str,
        resource: str | None = None,
        *,
        driver_timeout: float | None = None,
    ) -> T:
        """``func()`` in a worker thread, under the driver timeout, with errors mapped.

        ``driver_timeout`` (seconds) replaces ``timeout_ms`` for this call; a caller
        deadline still applies.
        """
        seconds = budget(self._timeout if driver_timeout is None else driver_timeout)
        return await self._runner.run(
            func,
            map_errors=functools.partial(map_errors, operation, resource),
            wrap=None if seconds is None else _DriverTimeout(seconds),
        )

    async def _run(self, func: Callable[[], T], operation: str, collection: str | None) -> T:
        self._check_open()
        return await self._call(func, operation, collection)

    # -- plain methods ---------------------------------------------------------------

    def statistics(self) -> MongoStatistics:
        """Worker threads in use, their peak, waiting callers, calls and errors."""
        return self._runner.statistics()

    def get_collection(self, name: str) -> MongoCollection:
        """A handle on one collection that never blocks an event loop (not PyMongo's)."""
        self._check_open()
        return MongoCollection(self, name)

    async def ping(self) -> bool:
        """Round trip to the server; True, or raises ``MongoConnectError``."""
        self._check_open()
        assert self._client is not None  # noqa: S101
        client = self._client
        await self._run(functools.partial(client.admin.command, "ping"), "ping", None)
        return True

    # -- transactions ----------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncGenerator[MongoSession, None]:
        """A transaction that commits on success and aborts on any exception or cancellation.

        Yields the session to pass as ``session=``; an aborted transaction writes nothing.
        """
        self._check_open()
        assert self._client is not None  # noqa: S101
        client = self._client
        driver_session = await self._run(client.start_session, "start_session", None)
        try:
            await self._run(driver_session.start_transaction, "start_transaction", None)
            session = MongoSession(driver_session)
            try:
                yield session
            except BaseException:
                with anyio.CancelScope(shield=True):
                    if driver_session.in_transaction:
                        await self._run(driver_session.abort_transaction, "abort_transaction", None)
                raise
            await self._run(driver_session.commit_transaction, "commit_transaction", None)
        finally:
            with anyio.CancelScope(shield=True):
                await self._call(driver_session.end_session, "end_session")

    async def run_transaction(
        self, fn: Callable[[MongoSession], Awaitable[T]], *, max_retries: int = 3
    ) -> T:
        """Run ``await fn(session)`` in a transaction, retrying it whole on transient errors.

        A failure the server labels ``TransientTransactionError`` (a write conflict, an
        election...) re-runs ``fn`` in a new transaction, up to ``max_retries`` times.
        """
        attempt = 0
        while True:
            try:
                async with self.transaction() as session:
                    return await fn(session)
            except MongoError as exc:
                if not exc.transient or attempt >= max_retries:
                    raise
                attempt += 1
                self._logger.debug("transient transaction error, retry %d: %s", attempt, exc)

    # -- CRUD ------------------------------------------------------------------------

    async def insert_one(
        self, collection: str, document: Query, *, session: MongoSession | None = None
    ) -> str:
        """Insert one document; its ``_id`` as ``str``."""
        coll = self._collection(collection)
        result = await self._run(
            functools.partial(coll.insert_one, dict(document), session=_driver_session(session)),
            "insert_one",
            collection,
        )
        return id_text(result.inserted_id)

    async def insert_many(
        self,
        collection: str,
        documents: Sequence[Query],
        ordered: bool = True,
        *,
        session: MongoSession | None = None,
    ) -> list[str]:
        """Insert documents; their ``_id`` values as ``str``, in order."""
        coll = self._collection(collection)
        if not documents:
            return []
        result = await self._run(
            functools.partial(
                coll.insert_many,
                [dict(d) for d in documents],
                ordered=ordered,
                session=_driver_session(session),
            ),
            "insert_many",
            collection,
        )
        return [id_text(i) for i in result.inserted_ids]

    async def find_one(
        self,
        collection: str,
        query: Query,
        projection: Query | None = None,
        *,
        session: MongoSession | None = None,
    ) -> Document | None:
        coll = self._collection(collection)
        return await self._run(
            functools.partial(coll.find_one, query, projection, session=_driver_session(session)),
            "find_one",
            collection,
        )

    async def find_many(
        self,
        collection: str,
        query: Query,
        projection: Query | None = None,
        sort: Sort | None = None,
        limit: int = 0,
        skip: int = 0,
        *,
        session: MongoSession | None = None,
    ) -> list[Document]:
        """Every matching document, loaded at once (stream big results with ``find_iter``)."""
        coll = self._collection(collection)

        def run() -> list[Document]:
            cursor = coll.find(
                query,
                projection,
                sort=list(sort) if sort else None,
                limit=limit,
                skip=skip,
                session=_driver_session(session),
            )
            with cursor:
                return list(cursor)

        return await self._run(run, "find_many", collection)

    async def find_iter(
        self,
        collection: str,
        query: Query,
        projection: Query | None = None,
        sort: Sort | None = None,
        limit: int = 0,
        skip: int = 0,
        *,
        batch_size: int | None = None,
        session: MongoSession | None = None,
    ) -> AsyncIterator[Document]:
        """Stream matching documents, fetching ``batch_size`` of them per thread hop.

        ``batch_size`` defaults to the config's ``stream_batch_size``. Leaving the loop
        closes the server cursor (wrap it in ``contextlib.aclosing`` to close it at once
        on the async face; the sync face closes it when the loop is left).
        """
        coll = self._collection(collection)
        size = batch_size or self.config.stream_batch_size
        cursor = coll.find(
            query,
            projection,
            sort=list(sort) if sort else None,
            limit=limit,
            skip=skip,
            batch_size=size,
            session=_driver_session(session),
        )
        try:
            while True:
                batch = await self._run(
                    functools.partial(_next_batch, cursor, size), "find_iter", collection
                )
                for document in batch:
                    yield document
                if len(batch) < size:
                    return
        finally:
            with anyio.CancelScope(shield=True):
                await self._call(cursor.close, "find_iter", collection)

    async def watch(
        self,
        collection: str | None = None,
        pipeline: Sequence[Query] | None = None,
        *,
        full_document: str | None = None,
        resume_after: Query | None = None,
        max_await_time_ms: int = 500,
        batch_size: int | None = None,
    ) -> AsyncIterator[Document]:
        """Stream change events of ``collection`` (or of the whole database).

        The stream opens when the first event is awaited; each wait for events lasts at
        most ``max_await_time_ms``, which is also how long cancelling the loop may take.
        """
        self._check_open()
        assert self._db is not None  # noqa: S101
        target: Database[Document] | Collection[Document] = (
            self._db if collection is None else self._db[collection]
        )
        stream: ChangeStream[Document] = await self._run(
            functools.partial(
                target.watch,
                list(pipeline) if pipeline else None,
                full_document=full_document,
                resume_after=resume_after,
                max_await_time_ms=max_await_time_ms,
                batch_size=batch_size,
            ),
            "watch",
            collection,
        )
        try:
            while True:
                change = await self._run(stream.try_next, "watch", collection)
                if change is not None:
                    yield change
        finally:
            with anyio.CancelScope(shield=True):
                await self._call(stream.close, "watch", collection)

    async def update_one(
        self,
        collection: str,
        query: Query,
        update: Query | Sequence[Query],
        upsert: bool = False,
        *,
        session: MongoSession | None = None,
    ) -> UpdateResult:
        coll = self._collection(collection)
        result = await self._run(
            functools.partial(
                coll.update_one, query, update, upsert=upsert, session=_driver_session(session)
            ),
            "update_one",
            collection,
        )
        return UpdateResult(
            result.matched_count,
            result.modified_count,
            None if result.upserted_id is None else id_text(result.upserted_id),
        )

    async def update_many(
        self,
        collection: str,
        query: Query,
        update: Query | Sequence[Query],
        upsert: bool = False,
        *,
        session: MongoSession | None = None,
    ) -> UpdateResult:
        coll = self._collection(collection)
        result = await self._run(
            functools.partial(
                coll.update_many, query, update, upsert=upsert, session=_driver_session(session)
            ),
            "update_many",
            collection,
        )
        return UpdateResult(
            result.matched_count,
            result.modified_count,
            None if result.upserted_id is None else id_text(result.upserted_id),
        )

    async def delete_one(
        self, collection: str, query: Query, *, session: MongoSession | None = None
    ) -> int:
        """Delete the first match; how many were deleted (0 or 1)."""
        coll = self._collection(collection)
        result = await self._run(
            functools.partial(coll.delete_one, query, session=_driver_session(session)),
            "delete_one",
            collection,
        )
        return result.deleted_count

    async def delete_many(
        self, collection: str, query: Query, *, session: MongoSession | None = None
    ) -> int:
        coll = self._collection(collection)
        result = await self._run(
            functools.partial(coll.delete_many, query, session=_driver_session(session)),
            "delete_many",
            collection,
        )
        return result.deleted_count

    async def count_documents(
        self, collection: str, query: Query, *, session: MongoSession | None = None
    ) -> int:
        coll = self._collection(collection)
        return await self._run(
            functools.partial(coll.count_documents, query, session=_driver_session(session)),
            "count_documents",
            collection,
        )

    async def aggregate(
        self, collection: str, pipeline: Sequence[Query], *, session: MongoSession | None = None
    ) -> list[Document]:
        coll = self._collection(collection)

        def run() -> list[Document]:
            with coll.aggregate(list(pipeline), session=_driver_session(session)) as cursor:
                return list(cursor)

        return await self._run(run, "aggregate", collection)

    async def create_index(
        self, collection: str, keys: IndexKeys, unique: bool = False, **kwargs: Any
    ) -> str:
        """Create an index and return its name.

        ``kwargs`` go to PyMongo: ``name``, ``sparse``, ``expireAfterSeconds``...
        """
        coll = self._collection(collection)
        index_keys: Any = keys if isinstance(keys, str) else list(keys)
        return await self._run(
            functools.partial(coll.create_index, index_keys, unique=unique, **kwargs),
            "create_index",
            collection,
        )

    async def bulk_write(
        self,
        collection: str,
        operations: Sequence[WriteOperation],
        ordered: bool = True,
        *,
        session: MongoSession | None = None,
    ) -> BulkWriteResult:
        """Several writes in one round trip; see ``WriteOperation`` for the dict form."""
        coll = self._collection(collection)
        requests = [_bulk_operation(op, collection) for op in operations]
        if not requests:
            return BulkWriteResult(0, 0, 0, 0, 0, {})
        result = await self._run(
            functools.partial(
                coll.bulk_write, requests, ordered=ordered, session=_driver_session(session)
            ),
            "bulk_write",
            collection,
        )
        return BulkWriteResult(
            inserted_count=result.inserted_count,
            matched_count=result.matched_count,
            modified_count=result.modified_count,
            deleted_count=result.deleted_count,
            upserted_count=result.upserted_count,
            upserted_ids={int(k): id_text(v) for k, v in (result.upserted_ids or {}).items()},
        )

    # -- models ----------------------------------------------------------------------

    async def find_one_model(
        self,
        collection: str,
        query: Query,
        model_class: type[ModelT],
        projection: Query | None = None,
        *,
        session: MongoSession | None = None,
    ) -> ModelT | None:
        """The first match as ``model_class``, or None (``MongoDataError`` if invalid)."""
        document = await self.find_one(collection, query, projection, session=session)
        if document is None:
            return None
        return from_document(
            model_class, document, collection=collection, operation="find_one_model"
        )

    async def find_many_models(
        self,
        collection: str,
        query: Query,
        model_class: type[ModelT],
        projection: Query | None = None,
        sort: Sort | None = None,
        limit: int = 0,
        skip: int = 0,
        *,
        session: MongoSession | None = None,
    ) -> list[ModelT]:
        documents = await self.find_many(
            collection, query, projection, sort, limit, skip, session=session
        )
        return [
            from_document(model_class, d, collection=collection, operation="find_many_models")
            for d in documents
        ]

    async def insert_one_model(
        self, collection: str, model: BaseModel, *, session: MongoSession | None = None
    ) -> str:
        """Insert ``model`` by alias (a None ``_id`` is made by the server); the id as ``str``."""
        return await self.insert_one(collection, _document_of(model, collection), session=session)

    async def insert_many_models(
        self,
        collection: str,
        models: Sequence[BaseModel],
        ordered: bool = True,
        *,
        session: MongoSession | None = None,
    ) -> list[str]:
        documents = [_document_of(m, collection) for m in models]
        return await self.insert_many(collection, documents, ordered, session=session)

    async def update_one_model(
        self,
        collection: str,
        model: BaseModel,
        upsert: bool = False,
        *,
        session: MongoSession | None = None,
    ) -> UpdateResult:
        """``$set`` every field of ``model`` on the document with the model's ``_id``."""
        document = _document_of(model, collection)
        if "_id" not in document:
            raise MongoDataError(
                f"{type(model).__name__} has no _id to update by",
                operation="update_one_model",
                resource=collection,
            )
        key = document.pop("_id")
        return await self.update_one(
            collection, {"_id": key}, {"$set": document}, upsert, session=session
        )

    async def update_many_models(
        self,
        collection: str,
        models: Sequence[BaseModel],
        upsert: bool = False,
        *,
        session: MongoSession | None = None,
    ) -> BulkWriteResult:
        """``update_one_model`` for each model, in one ordered bulk write."""
        operations: list[WriteOperation] = []
        for model in models:
            document = _document_of(model, collection)
            if "_id" not in document:
                raise MongoDataError(
                    f"{type(model).__name__} has no _id to update by",
                    operation="update_many_models",
                    resource=collection,
                )
            key = document.pop("_id")
            operations.append(UpdateOne({"_id": key}, {"$set": document}, upsert=upsert))
        return await self.bulk_write(collection, operations, session=session)


def _document_of(model: object, collection: str) -> Document:
    if not isinstance(model, BaseModel):
        raise MongoDataError(
            f"expected a pydantic model, got {type(model).__name__}", resource=collection
        )
    return to_document(model)


def _bulk_operation(operation: WriteOperation, collection: str) -> Any:
    if isinstance(
        operation, InsertOne | UpdateOne | UpdateMany | ReplaceOne | DeleteOne | DeleteMany
    ):
        return operation
    if len(operation) != 1:
        raise MongoDataError(
            f"a bulk operation dict has one key (the operation), got {sorted(operation)}",
            operation="bulk_write",
            resource=collection,
        )
    ((kind, arguments),) = operation.items()
    factory = _BULK_OPS.get(kind)
    if factory is None:
        raise MongoDataError(
            f"unknown bulk operation {kind!r} (expected one of {sorted(_BULK_OPS)})",
            operation="bulk_write",
            resource=collection,
        )
    try:
        return factory(**arguments)
    except TypeError as exc:
        raise MongoDataError(
            f"bad arguments for {kind}: {exc}", operation="bulk_write", resource=collection
        ) from exc
