"""MongoService: PyMongo's synchronous client, driven from worker threads.

PyMongo's AsyncMongoClient runs only on asyncio, so the one implementation (asyncio,
trio and the sync face alike) runs the synchronous client's calls through the worker
thread runner (``anyservices._core._threads``: a ``CapacityLimiter`` the size of the
connection pool, and its cancellation semantics). The caller's deadline and
``timeout_ms`` reach the driver as a PyMongo CSOT timeout (``pymongo.timeout``) applied
inside the worker thread; what the driver raises becomes ours in ``map_errors``.

The data methods take and return what the original service (and PyMongo) did:
``collection_name`` first, PyMongo's result types (``InsertOneResult``, ``UpdateResult``,
``DeleteResult``, ``BulkWriteResult``), ids as stored (``ObjectId``).
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
from pymongo.results import BulkWriteResult, DeleteResult, InsertOneResult, UpdateResult

from .._core._caller import call_user
from .._core._service import Service
from .._core._telemetry import mongo_telemetry
from .._core._threads import ThreadRunner, budget, inline_on_sync_face
from ._collection import MongoCollection
from ._config import MongoConfig
from ._errors import MongoDataError, MongoError, map_errors
from ._models import from_document, to_document
from ._session import MongoSession
from ._statistics import MongoStatistics
from ._types import IndexKeys, Query, Sort, WriteOperation

if TYPE_CHECKING:
    import logging

    from bson import ObjectId
    from pymongo.change_stream import ChangeStream
    from pymongo.client_session import ClientSession
    from pymongo.collection import Collection
    from pymongo.cursor import Cursor
    from pymongo.database import Database

    from .._core._portal import Portal
    from ._sync import SyncMongoService

__all__ = ("MongoService",)

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")

_BULK_OPS: dict[str, Callable[..., Any]] = {
    "insert_one": InsertOne,
    "update_one": UpdateOne,
    "update_many": UpdateMany,
    "replace_one": ReplaceOne,
    "delete_one": DeleteOne,
    "delete_many": DeleteMany,
}
_UNKNOWN_COMMIT = "UnknownTransactionCommitResult"


def _driver_session(session: MongoSession | None) -> ClientSession | None:
    return None if session is None else session.driver_session


class _DriverTimeout:
    """A runner ``wrap``: the call runs under ``pymongo.timeout(seconds)`` in its thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, func: Callable[[], R]) -> Callable[[], R]:
        def run() -> R:
            with pymongo.timeout(self.seconds):
                return func()

        return run


def _next_batch(iterator: Cursor[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    return list(itertools.islice(iterator, size))


class MongoService(Service[MongoConfig]):
    """MongoDB on asyncio, trio and the sync face.

    ``async with MongoService(MongoConfig(url=..., database="app")) as mongo:``
    """

    service_name = "mongo"

    def __init__(self, config: MongoConfig, *, logger: logging.Logger | None = None) -> None:
        super().__init__(config, logger=logger)
        self._runner = ThreadRunner(config.max_pool_size, name="mongo")
        self._telemetry = mongo_telemetry(config.safe_url, config.database)
        self._timeout = None if config.timeout_ms is None else config.timeout_ms / 1000
        self._client: MongoClient[dict[str, Any]] | None = None
        self._db: Database[dict[str, Any]] | None = None

    def _describe(self) -> str:
        return f"{self.config.safe_url} db={self.config.database}"

    @inline_on_sync_face
    async def probe(self) -> None:
        """Raise the reason this service is not ready (the ``ping`` command)."""
        await self.ping()

    async def _open(self, stack: AsyncExitStack) -> None:
        url = self.config.url.get_secret_value()
        options = self.config.client_options()
        client: MongoClient[dict[str, Any]] = await self._call(
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

    def _collection(self, name: str) -> Collection[dict[str, Any]]:
        self._check_open()
        assert self._db is not None  # noqa: S101 -- open implies a database
        return self._db[name]

    @property
    def _mongo_client(self) -> MongoClient[dict[str, Any]]:
        self._check_open()
        assert self._client is not None  # noqa: S101 -- open implies a client
        return self._client

    async def _call(
        self,
        func: Callable[[], R],
        operation: str,
        resource: str | None = None,
        *,
        driver_timeout: float | None = None,
    ) -> R:
        """``func()`` in a worker thread, under the driver timeout, with errors mapped.

        ``driver_timeout`` (seconds) replaces ``timeout_ms`` for this call; a caller
        deadline still applies.
        """
        seconds = budget(self._timeout if driver_timeout is None else driver_timeout)
        with self._telemetry.operation(operation, resource):  # span: the thread hop too
            return await self._runner.run(
                func,
                map_errors=functools.partial(map_errors, operation, resource),
                wrap=None if seconds is None else _DriverTimeout(seconds),
            )

    async def _run(self, func: Callable[[], R], operation: str, collection: str | None) -> R:
        self._check_open()
        return await self._call(func, operation, collection)

    async def _collection_call(
        self,
        collection_name: str,
        method: str,
        session: MongoSession | None,
        /,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """``collection.method(*args, session=..., **kwargs)``, PyMongo's result as it is."""
        bound = getattr(self._collection(collection_name), method)
        call = functools.partial(bound, *args, session=_driver_session(session), **kwargs)
        return await self._run(call, method, collection_name)

    # -- plain methods ---------------------------------------------------------------

    def statistics(self) -> MongoStatistics:
        """Worker threads in use, their peak, waiting callers, calls and errors."""
        return self._runner.statistics()

    def _gauges(self) -> dict[str, int]:
        return self._runner.gauges()

    def get_collection(self, collection_name: str) -> MongoCollection:
        """PyMongo's Collection API on one collection, never blocking an event loop.

        Plus the service's data methods PyMongo lacks (``find_many_models``...); see
        :class:`~anyservices.mongo.MongoCollection`.
        """
        return self._handle(self._collection(collection_name))

    def _handle(self, collection: Collection[dict[str, Any]]) -> MongoCollection:
        """Our handle on a PyMongo collection (also for those PyMongo hands back)."""
        return MongoCollection(self, collection)

    @inline_on_sync_face
    async def ping(self) -> dict[str, Any]:
        """Round trip to the server; its answer (``{"ok": 1.0}``), or ``MongoConnectError``."""
        client = self._mongo_client
        answer: dict[str, Any] = await self._run(
            functools.partial(client.admin.command, "ping"), "ping", None
        )
        return answer

    # -- transactions ----------------------------------------------------------------

    async def _commit(self, driver_session: ClientSession, max_retries: int) -> None:
        """Commit; an ``UnknownTransactionCommitResult`` is retried (commits are idempotent)."""
        attempt = 0
        while True:
            try:
                await self._run(driver_session.commit_transaction, "commit_transaction", None)
            except MongoError as exc:
                if _UNKNOWN_COMMIT not in exc.labels or attempt >= max_retries:
                    raise
                attempt += 1
                self._logger.info(
                    "mongo: commit result unknown, retrying the commit (%d of %d): %s",
                    attempt,
                    max_retries,
                    exc,
                )
            else:
                return

    @asynccontextmanager
    async def transaction(
        self, *, max_commit_retries: int = 3
    ) -> AsyncGenerator[MongoSession, None]:
        """A transaction that commits on success and aborts on any exception or cancellation.

        Yields the session to pass as ``session``; an aborted transaction writes nothing.
        A commit whose result is unknown (``UnknownTransactionCommitResult``) is retried
        up to ``max_commit_retries`` times.
        """
        client = self._mongo_client
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
            await self._commit(driver_session, max_commit_retries)
        finally:
            with anyio.CancelScope(shield=True):
                await self._call(driver_session.end_session, "end_session")

    async def run_transaction(
        self,
        fn: Callable[[MongoSession], Awaitable[R]],
        *,
        max_retries: int = 3,
    ) -> R:
        """Run ``fn(session)`` in a transaction, retrying it whole on transient errors.

        ``fn`` is async here (a plain function works too); on the sync face it is a
        plain function, run in the calling thread (``call_user``). A failure the server
        labels ``TransientTransactionError`` (a write conflict, an election...) re-runs
        ``fn`` in a new transaction, up to ``max_retries`` times, logging each retry at
        INFO; an unknown commit result (``UnknownTransactionCommitResult``) retries the
        commit alone.
        """
        attempt = 0
        while True:
            try:
                async with self.transaction(max_commit_retries=max_retries) as session:
                    return await call_user(fn, session)
            except MongoError as exc:
                if not exc.transient or attempt >= max_retries:
                    raise
                attempt += 1
                self._logger.info(
                    "mongo: transient transaction error, retrying the transaction (%d of %d): %s",
                    attempt,
                    max_retries,
                    exc,
                )

    # -- CRUD ------------------------------------------------------------------------

    @inline_on_sync_face
    async def insert_one(
        self, collection_name: str, document: Query, session: MongoSession | None = None
    ) -> InsertOneResult:
        """Insert one document (a dict gets its ``_id``, as with PyMongo)."""
        target = document if isinstance(document, dict) else dict(document)
        result: InsertOneResult = await self._collection_call(
            collection_name, "insert_one", session, target
        )
        return result

    @inline_on_sync_face
    async def insert_many(
        self,
        collection_name: str,
        documents: Sequence[Query],
        *,
        ordered: bool = True,
        session: MongoSession | None = None,
    ) -> list[ObjectId]:
        """Insert documents; their ``_id`` values, in order."""
        coll = self._collection(collection_name)
        if not documents:
            return []
        targets = [d if isinstance(d, dict) else dict(d) for d in documents]
        result = await self._run(
            functools.partial(
                coll.insert_many, targets, ordered=ordered, session=_driver_session(session)
            ),
            "insert_many",
            collection_name,
        )
        return list(result.inserted_ids)

    @inline_on_sync_face
    async def find_one(
        self,
        collection_name: str,
        query: Query,
        projection: Query | None = None,
        session: MongoSession | None = None,
    ) -> dict[str, Any] | None:
        """The first matching document, or None."""
        found: dict[str, Any] | None = await self._collection_call(
            collection_name, "find_one", session, query, projection
        )
        return found

    @inline_on_sync_face
    async def find_many(
        self,
        collection_name: str,
        query: Query,
        *,
        projection: Query | None = None,
        sort: Sort | None = None,
        limit: int = 0,
        skip: int = 0,
        session: MongoSession | None = None,
    ) -> list[dict[str, Any]]:
        """Every matching document, loaded at once (stream big results with ``find_iter``)."""
        coll = self._collection(collection_name)

        def run() -> list[dict[str, Any]]:
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

        return await self._run(run, "find_many", collection_name)

    async def find_iter(
        self,
        collection_name: str,
        query: Query,
        *,
        projection: Query | None = None,
        sort: Sort | None = None,
        limit: int = 0,
        skip: int = 0,
        batch_size: int | None = None,
        session: MongoSession | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream matching documents, fetching ``batch_size`` of them per thread hop.

        ``batch_size`` defaults to the config's ``stream_batch_size``. Leaving the loop
        closes the server cursor (wrap it in ``contextlib.aclosing`` to close it at once
        on the async face; the sync face closes it when the loop is left).
        """
        coll = self._collection(collection_name)
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
                    functools.partial(_next_batch, cursor, size), "find_iter", collection_name
                )
                for document in batch:
                    yield document
                if len(batch) < size:
                    return
        finally:
            with anyio.CancelScope(shield=True):
                await self._call(cursor.close, "find_iter", collection_name)

    async def watch(
        self,
        collection_name: str | None = None,
        pipeline: Sequence[Query] | None = None,
        *,
        full_document: str | None = None,
        resume_after: Query | None = None,
        max_await_time_ms: int = 500,
        batch_size: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream change events of ``collection_name`` (or of the whole database).

        The stream opens when the first event is awaited; each wait for events lasts at
        most ``max_await_time_ms``, which is also how long cancelling the loop may take.
        """
        self._check_open()
        assert self._db is not None  # noqa: S101
        target: Database[dict[str, Any]] | Collection[dict[str, Any]] = (
            self._db if collection_name is None else self._db[collection_name]
        )
        stream: ChangeStream[dict[str, Any]] = await self._run(
            functools.partial(
                target.watch,
                list(pipeline) if pipeline else None,
                full_document=full_document,
                resume_after=resume_after,
                max_await_time_ms=max_await_time_ms,
                batch_size=batch_size,
            ),
            "watch",
            collection_name,
        )
        try:
            while True:
                change = await self._run(stream.try_next, "watch", collection_name)
                if change is not None:
                    yield change
        finally:
            with anyio.CancelScope(shield=True):
                await self._call(stream.close, "watch", collection_name)

    @inline_on_sync_face
    async def update_one(
        self,
        collection_name: str,
        query: Query,
        update: Query | Sequence[Query],
        *,
        upsert: bool = False,
        session: MongoSession | None = None,
    ) -> UpdateResult:
        """Update the first match (``update`` is an operator document or a pipeline)."""
        result: UpdateResult = await self._collection_call(
            collection_name, "update_one", session, query, update, upsert=upsert
        )
        return result

    @inline_on_sync_face
    async def update_many(
        self,
        collection_name: str,
        query: Query,
        update: Query | Sequence[Query],
        *,
        upsert: bool = False,
        session: MongoSession | None = None,
    ) -> UpdateResult:
        """Update every match."""
        result: UpdateResult = await self._collection_call(
            collection_name, "update_many", session, query, update, upsert=upsert
        )
        return result

    @inline_on_sync_face
    async def delete_one(
        self, collection_name: str, query: Query, session: MongoSession | None = None
    ) -> DeleteResult:
        """Delete the first match (``deleted_count`` is 0 or 1)."""
        result: DeleteResult = await self._collection_call(
            collection_name, "delete_one", session, query
        )
        return result

    @inline_on_sync_face
    async def delete_many(
        self, collection_name: str, query: Query, session: MongoSession | None = None
    ) -> DeleteResult:
        """Delete every match."""
        result: DeleteResult = await self._collection_call(
            collection_name, "delete_many", session, query
        )
        return result

    @inline_on_sync_face
    async def count_documents(
        self, collection_name: str, query: Query, session: MongoSession | None = None
    ) -> int:
        """How many documents match."""
        count: int = await self._collection_call(collection_name, "count_documents", session, query)
        return count

    @inline_on_sync_face
    async def aggregate(
        self,
        collection_name: str,
        pipeline: Sequence[Query],
        session: MongoSession | None = None,
    ) -> list[dict[str, Any]]:
        """The pipeline's output documents, loaded at once."""
        coll = self._collection(collection_name)

        def run() -> list[dict[str, Any]]:
            with coll.aggregate(list(pipeline), session=_driver_session(session)) as cursor:
                return list(cursor)

        return await self._run(run, "aggregate", collection_name)

    @inline_on_sync_face
    async def create_index(
        self, collection_name: str, keys: IndexKeys, *, unique: bool = False, **kwargs: Any
    ) -> str:
        """Create an index and return its name.

        ``kwargs`` go to PyMongo: ``name``, ``sparse``, ``expireAfterSeconds``...
        """
        coll = self._collection(collection_name)
        index_keys: Any = keys if isinstance(keys, str) else list(keys)
        return await self._run(
            functools.partial(coll.create_index, index_keys, unique=unique, **kwargs),
            "create_index",
            collection_name,
        )

    @inline_on_sync_face
    async def bulk_write(
        self,
        collection_name: str,
        operations: Sequence[WriteOperation],
        *,
        ordered: bool = True,
        session: MongoSession | None = None,
    ) -> BulkWriteResult:
        """Several writes in one round trip; see ``WriteOperation`` for the dict form."""
        coll = self._collection(collection_name)
        requests = [_bulk_operation(op, collection_name) for op in operations]
        if not requests:
            return BulkWriteResult(_EMPTY_BULK, acknowledged=True)
        return await self._run(
            functools.partial(
                coll.bulk_write, requests, ordered=ordered, session=_driver_session(session)
            ),
            "bulk_write",
            collection_name,
        )

    # -- models ----------------------------------------------------------------------

    @inline_on_sync_face
    async def find_one_model(
        self,
        collection_name: str,
        query: Query,
        model_class: type[T],
        projection: Query | None = None,
        session: MongoSession | None = None,
    ) -> T | None:
        """The first match as ``model_class``, or None (``MongoDataError`` if invalid)."""
        document = await self.find_one(collection_name, query, projection, session)
        if document is None:
            return None
        return from_document(
            model_class, document, collection=collection_name, operation="find_one_model"
        )

    @inline_on_sync_face
    async def find_many_models(
        self,
        collection_name: str,
        query: Query,
        model_class: type[T],
        *,
        projection: Query | None = None,
        sort: Sort | None = None,
        limit: int = 0,
        skip: int = 0,
        session: MongoSession | None = None,
    ) -> list[T]:
        """Every match as ``model_class``."""
        documents = await self.find_many(
            collection_name,
            query,
            projection=projection,
            sort=sort,
            limit=limit,
            skip=skip,
            session=session,
        )
        return [
            from_document(model_class, d, collection=collection_name, operation="find_many_models")
            for d in documents
        ]

    @inline_on_sync_face
    async def insert_one_model(
        self, collection_name: str, model: BaseModel, session: MongoSession | None = None
    ) -> InsertOneResult:
        """Insert ``model`` by alias (a None ``_id`` is made by the server)."""
        document = _document_of(model, collection_name)
        return await self.insert_one(collection_name, document, session)

    @inline_on_sync_face
    async def insert_many_models(
        self,
        collection_name: str,
        models: Sequence[BaseModel],
        *,
        ordered: bool = True,
        session: MongoSession | None = None,
    ) -> list[ObjectId]:
        """Insert models by alias; their ids, in order."""
        documents = [_document_of(m, collection_name) for m in models]
        return await self.insert_many(collection_name, documents, ordered=ordered, session=session)

    @inline_on_sync_face
    async def update_one_model(
        self,
        collection_name: str,
        query: Query,
        model: BaseModel,
        *,
        upsert: bool = False,
        session: MongoSession | None = None,
    ) -> UpdateResult:
        """``$set`` every field of ``model`` (but ``_id``) on the first match of ``query``."""
        update = {"$set": _fields_of(model, collection_name)}
        return await self.update_one(collection_name, query, update, upsert=upsert, session=session)

    @inline_on_sync_face
    async def update_many_models(
        self,
        collection_name: str,
        query: Query,
        model: BaseModel,
        *,
        upsert: bool = False,
        session: MongoSession | None = None,
    ) -> UpdateResult:
        """``$set`` every field of ``model`` (but ``_id``) on every match of ``query``."""
        update = {"$set": _fields_of(model, collection_name)}
        return await self.update_many(
            collection_name, query, update, upsert=upsert, session=session
        )


_EMPTY_BULK: dict[str, Any] = {
    "writeErrors": [],
    "writeConcernErrors": [],
    "nInserted": 0,
    "nUpserted": 0,
    "nMatched": 0,
    "nModified": 0,
    "nRemoved": 0,
    "upserted": [],
}


def _document_of(model: object, collection: str) -> dict[str, Any]:
    if not isinstance(model, BaseModel):
        raise MongoDataError(
            f"expected a pydantic model, got {type(model).__name__}", resource=collection
        )
    return to_document(model)


def _fields_of(model: object, collection: str) -> dict[str, Any]:
    """The model's fields to ``$set``: its document without ``_id`` (which cannot change)."""
    document = _document_of(model, collection)
    document.pop("_id", None)
    return document


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
