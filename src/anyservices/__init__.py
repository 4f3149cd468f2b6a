"""anyservices: Redis, MongoDB, S3 and HTTP services written once on AnyIO.

The same service objects run on asyncio and trio, and in synchronous code through
:func:`blocking`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._core._blocking import Blocking as Blocking
from ._core._blocking import blocking as blocking
from ._core._errors import AnyServicesError as AnyServicesError
from ._core._errors import AuthenticationError as AuthenticationError
from ._core._errors import CircuitOpenError as CircuitOpenError
from ._core._errors import CommandError as CommandError
from ._core._errors import ConfigurationError as ConfigurationError
from ._core._errors import ConflictError as ConflictError
from ._core._errors import ConnectError as ConnectError
from ._core._errors import DataError as DataError
from ._core._errors import NotFoundError as NotFoundError
from ._core._errors import PermissionDeniedError as PermissionDeniedError
from ._core._errors import ServiceClosedError as ServiceClosedError
from ._core._errors import ServiceTimeoutError as ServiceTimeoutError
from ._core._public import mark_public
from ._progress import ProgressBar as ProgressBar
from ._progress import progress_bar as progress_bar
from ._version import __version__ as __version__

# Services load on first use, so `import anyservices` does not import every driver.
_LAZY: dict[str, str] = {
    "HttpConfig": "http",
    "HttpService": "http",
    "MinioConfig": "minio",
    "MinioService": "minio",
    "MongoConfig": "mongo",
    "MongoService": "mongo",
    "QueueConfig": "queue",
    "QueueService": "queue",
    "RedisConfig": "redis",
    "RedisService": "redis",
}

if TYPE_CHECKING:
    from .http import HttpConfig as HttpConfig
    from .http import HttpService as HttpService
    from .minio import MinioConfig as MinioConfig
    from .minio import MinioService as MinioService
    from .mongo import MongoConfig as MongoConfig
    from .mongo import MongoService as MongoService
    from .queue import QueueConfig as QueueConfig
    from .queue import QueueService as QueueService
    from .redis import RedisConfig as RedisConfig
    from .redis import RedisService as RedisService

__all__ = (
    "AnyServicesError",
    "AuthenticationError",
    "Blocking",
    "CircuitOpenError",
    "CommandError",
    "ConfigurationError",
    "ConflictError",
    "ConnectError",
    "DataError",
    "HttpConfig",
    "HttpService",
    "MinioConfig",
    "MinioService",
    "MongoConfig",
    "MongoService",
    "NotFoundError",
    "PermissionDeniedError",
    "ProgressBar",
    "QueueConfig",
    "QueueService",
    "RedisConfig",
    "RedisService",
    "ServiceClosedError",
    "ServiceTimeoutError",
    "__version__",
    "blocking",
    "progress_bar",
)


mark_public(__name__, globals(), __all__)


def __getattr__(name: str) -> Any:
    service = _LAZY.get(name)
    if service is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{service}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
