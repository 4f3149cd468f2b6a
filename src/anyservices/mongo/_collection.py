"""MongoCollection: what ``get_collection`` returns.

PyMongo's whole Collection API, derived from ``AsyncCollection`` (see ``_proxy.py``):
``await coll.find_one(...)``, ``await coll.drop()``, ``async for d in coll.find(...)``,
``await coll.find_one_and_update(...)``, ``await coll.distinct(...)``... each blocking
call in a worker thread. Type checkers see ``AsyncCollection[dict[str, Any]]`` on the
async faces and ``Collection[dict[str, Any]]`` on the sync face.

Added to it: the service's data methods that PyMongo's Collection does not have, with
the collection filled in (``find_many``, ``find_iter``, ``find_one_model``,
``find_many_models``, ``insert_one_model``, ``insert_many_models``, ``update_one_model``,
``update_many_models``). The rest of the service's data methods (``insert_one``,
``watch``...) are PyMongo's here, as a PyMongo user expects. Each is the service's method
minus ``collection_name`` (tests/mongo/test_mongo_collection.py pins that), and runs
through the service by the collection's name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection

from ._proxy import AsyncProxy, SyncSide, derive_async_api, derive_sync_api

if TYPE_CHECKING:
    from bson import ObjectId
    from pymongo.collection import Collection
    from pymongo.results import InsertOneResult, UpdateResult

    from .._core._portal import Portal
    from ._service import MongoService
    from ._session import MongoSession
    from ._types import Query, Sort

    _AsyncCollectionAPI = AsyncCollection[dict[str, Any]]
    _SyncCollectionAPI = Collection[dict[str, Any]]
else:
    _AsyncCollectionAPI = AsyncProxy
    _SyncCollectionAPI = SyncSide

__all__ = ("MongoCollection", "MongoCollectionSyncExtras")

T = TypeVar("T", bound=BaseModel)


class MongoCollection(_AsyncCollectionAPI):
    """One collection: PyMongo's ``AsyncCollection`` API plus the service's data methods."""

    _service: MongoService
    _target: Collection[dict[str, Any]]
    _resource: str

    def __init__(self, service: MongoService, collection: Collection[dict[str, Any]]) -> None:
        # AsyncProxy's fields (type checkers see AsyncCollection as the base, not AsyncProxy).
        self._service = service
        self._target = collection
        self._resource = collection.name

    def __repr__(self) -> str:
        return f"<MongoCollection {self._resource!r}>"

    @property
    def driver_object(self) -> Collection[dict[str, Any]]:
        """PyMongo's (blocking) Collection behind this handle, for threads of your own."""
        return self._target

    async def find_many(
        self,
        query: Query,
        *,
        projection: Query | None = None,
        sort: Sort | None = None,
        limit: int = 0,
        skip: int = 0,
        session: MongoSession | None = None,
    ) -> list[dict[str, Any]]:
        """Every matching document, loaded at once."""
        return await self._service.find_many(
            self._resource,
            query,
            projection=projection,
            sort=sort,
            limit=limit,
            skip=skip,
            session=session,
        )

    def find_iter(
        self,
        query: Query,
        *,
        projection: Query | None = None,
        sort: Sort | None = None,
        limit: int = 0,
        skip: int = 0,
        batch_size: int | None = None,
        session: MongoSession | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream matching documents, ``batch_size`` of them per thread hop."""
        return self._service.find_iter(
            self._resource,
            query,
            projection=projection,
            sort=sort,
            limit=limit,
            skip=skip,
            batch_size=batch_size,
            session=session,
        )

    async def find_one_model(
        self,
        query: Query,
        model_class: type[T],
        projection: Query | None = None,
        session: MongoSession | None = None,
    ) -> T | None:
        """The first match as ``model_class``, or None."""
        return await self._service.find_one_model(
            self._resource, query, model_class, projection, session
        )

    async def find_many_models(
        self,
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
        return await self._service.find_many_models(
            self._resource,
            query,
            model_class,
            projection=projection,
            sort=sort,
            limit=limit,
            skip=skip,
            session=session,
        )

    async def insert_one_model(
        self, model: BaseModel, session: MongoSession | None = None
    ) -> InsertOneResult:
        """Insert ``model`` by alias."""
        return await self._service.insert_one_model(self._resource, model, session)

    async def insert_many_models(
        self,
        models: Sequence[BaseModel],
        *,
        ordered: bool = True,
        session: MongoSession | None = None,
    ) -> list[ObjectId]:
        """Insert models; their ids, in order."""
        return await self._service.insert_many_models(
            self._resource, models, ordered=ordered, session=session
        )

    async def update_one_model(
        self,
        query: Query,
        model: BaseModel,
        *,
        upsert: bool = False,
        session: MongoSession | None = None,
    ) -> UpdateResult:
        """``$set`` the model's fields on the first match."""
        return await self._service.update_one_model(
            self._resource, query, model, upsert=upsert, session=session
        )

    async def update_many_models(
        self,
        query: Query,
        model: BaseModel,
        *,
        upsert: bool = False,
        session: MongoSession | None = None,
    ) -> UpdateResult:
        """``$set`` the model's fields on every match."""
        return await self._service.update_many_models(
            self._resource, query, model, upsert=upsert, session=session
        )


class MongoCollectionSyncExtras(_SyncCollectionAPI):
    """The sync face's PyMongo surface: ``Collection``'s API, each call run on the portal."""

    if TYPE_CHECKING:  # the runtime fields and constructor are SyncFace's

        def __init__(self, portal: Portal, wrapped: MongoCollection) -> None: ...

    else:

        def _async_object(self) -> MongoCollection:
            return self._wrapped

        def __getattr__(self, name: str) -> Any:  # a sub-collection: coll.archive
            if name.startswith("_"):
                raise AttributeError(name)
            return self._sync_call("__getattr__", name)

        def __getitem__(self, key: str) -> Any:  # coll["archive"]
            return self._sync_call("__getitem__", key)


# The PyMongo surface, derived from PyMongo's async class (see ``_proxy.py``).
derive_async_api(MongoCollection, AsyncCollection)  # type: ignore[arg-type]
derive_sync_api(MongoCollectionSyncExtras, AsyncCollection)
