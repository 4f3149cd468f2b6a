"""Redis on our own anyio RESP3 transport, for asyncio, trio and sync code."""

from __future__ import annotations

from .._core._public import mark_public
from ._cache import CachedFunction as CachedFunction
from ._cache import SyncCachedFunction as SyncCachedFunction
from ._config import RedisConfig as RedisConfig
from ._errors import RedisAuthenticationError as RedisAuthenticationError
from ._errors import RedisConnectError as RedisConnectError
from ._errors import RedisConnectionLostError as RedisConnectionLostError
from ._errors import RedisCrossSlotError as RedisCrossSlotError
from ._errors import RedisDataError as RedisDataError
from ._errors import RedisError as RedisError
from ._errors import RedisLockError as LockError
from ._errors import RedisLockError as RedisLockError
from ._errors import RedisPermissionError as RedisPermissionError
from ._errors import RedisRedirectError as RedisRedirectError
from ._errors import RedisResponseError as RedisResponseError
from ._errors import RedisTimeoutError as RedisTimeoutError
from ._errors import RedisUnconfirmedWriteError as RedisUnconfirmedWriteError
from ._errors import RedisWatchError as RedisWatchError
from ._lock import Lock as Lock
from ._pipeline import Pipeline as Pipeline
from ._pubsub import Message as Message
from ._pubsub import ModelStream as ModelStream
from ._pubsub import Subscription as Subscription
from ._search import vector_bytes as vector_bytes
from ._service import RedisService as RedisService
from ._slots import hash_tag as hash_tag
from ._statistics import PoolStatistics as PoolStatistics
from ._sync import SyncLock as SyncLock
from ._sync import SyncPipeline as SyncPipeline
from ._sync import SyncRedisService as SyncRedisService
from ._sync import SyncSubscription as SyncSubscription

__all__ = (
    "CachedFunction",
    "Lock",
    "LockError",
    "Message",
    "ModelStream",
    "Pipeline",
    "PoolStatistics",
    "RedisAuthenticationError",
    "RedisConfig",
    "RedisConnectError",
    "RedisConnectionLostError",
    "RedisCrossSlotError",
    "RedisDataError",
    "RedisError",
    "RedisLockError",
    "RedisPermissionError",
    "RedisRedirectError",
    "RedisResponseError",
    "RedisService",
    "RedisTimeoutError",
    "RedisUnconfirmedWriteError",
    "RedisWatchError",
    "Subscription",
    "SyncCachedFunction",
    "SyncLock",
    "SyncPipeline",
    "SyncRedisService",
    "SyncSubscription",
    "hash_tag",
    "vector_bytes",
)


mark_public(__name__, globals(), __all__)
