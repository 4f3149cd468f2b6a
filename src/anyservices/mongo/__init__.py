"""MongoService: MongoDB on asyncio, trio and the sync face, through PyMongo in threads.

The result types are PyMongo's own (``pymongo.results``), re-exported here.
"""

from __future__ import annotations

from pymongo.results import BulkWriteResult as BulkWriteResult
from pymongo.results import DeleteResult as DeleteResult
from pymongo.results import InsertOneResult as InsertOneResult
from pymongo.results import UpdateResult as UpdateResult

from .._core._public import mark_public
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
from ._service import MongoService as MongoService
from ._session import MongoSession as MongoSession
from ._statistics import MongoStatistics as MongoStatistics
from ._sync import SyncMongoCollection as SyncMongoCollection
from ._sync import SyncMongoService as SyncMongoService
from ._types import Document as Document
from ._types import WriteOperation as WriteOperation

__all__ = (
    "BulkWriteResult",
    "DeleteResult",
    "Document",
    "InsertOneResult",
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


mark_public(__name__, globals(), __all__)
