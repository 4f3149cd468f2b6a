"""MongoService: MongoDB on asyncio, trio and the sync face, through PyMongo in threads."""

from __future__ import annotations

from ._collection import MongoCollection as MongoCollection
from ._config import MongoConfig as MongoConfig
from ._errors import MongoAuthenticationError as MongoAuthenticationError
from ._errors import MongoCommandError as MongoCommandError
from ._errors import MongoConfigurationError as MongoConfigurationError
from ._errors import MongoConnectError as MongoConnectError
from ._errors import MongoDataError as MongoDataError
from ._errors import MongoDuplicateKeyError as MongoDuplicateKeyError
from ._errors import MongoError as MongoError
from ._errors import MongoPermissionDeniedError as MongoPermissionDeniedError
from ._errors import MongoTimeoutError as MongoTimeoutError
from ._results import BulkWriteResult as BulkWriteResult
from ._results import UpdateResult as UpdateResult
from ._service import MongoService as MongoService
from ._session import MongoSession as MongoSession
from ._sync import SyncMongoCollection as SyncMongoCollection
from ._sync import SyncMongoService as SyncMongoService
from ._threads import MongoStatistics as MongoStatistics
from ._types import Document as Document
from ._types import WriteOperation as WriteOperation

__all__ = (
    "BulkWriteResult",
    "Document",
    "MongoAuthenticationError",
    "MongoCollection",
    "MongoCommandError",
    "MongoConfig",
    "MongoConfigurationError",
    "MongoConnectError",
    "MongoDataError",
    "MongoDuplicateKeyError",
    "MongoError",
    "MongoPermissionDeniedError",
    "MongoService",
    "MongoSession",
    "MongoStatistics",
    "MongoTimeoutError",
    "SyncMongoCollection",
    "SyncMongoService",
    "UpdateResult",
    "WriteOperation",
)


def _set_public_module() -> None:
    # Reprs and docs say where users import from. Classes the sync-face generator reads
    # keep their defining module: it finds a class's source through ``__module__``.
    keep = {"MongoService", "MongoCollection", "MongoSession", "Document", "WriteOperation"}
    for name in __all__:
        if name not in keep:
            globals()[name].__module__ = __name__


_set_public_module()
