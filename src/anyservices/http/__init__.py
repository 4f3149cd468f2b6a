"""HttpService: an httpx client with typed model helpers, retries and a circuit breaker."""

from __future__ import annotations

from .._core._public import mark_public
from ._breaker import BreakerSettings as BreakerSettings
from ._breaker import BreakerState as BreakerState
from ._breaker import BreakerStatistics as BreakerStatistics
from ._config import HttpConfig as HttpConfig
from ._errors import HttpAuthenticationError as HttpAuthenticationError
from ._errors import HttpCircuitOpenError as HttpCircuitOpenError
from ._errors import HttpCommandError as HttpCommandError
from ._errors import HttpConflictError as HttpConflictError
from ._errors import HttpConnectError as HttpConnectError
from ._errors import HttpDataError as HttpDataError
from ._errors import HttpError as HttpError
from ._errors import HttpNotFoundError as HttpNotFoundError
from ._errors import HttpPermissionDeniedError as HttpPermissionDeniedError
from ._errors import HttpStatusError as HttpStatusError
from ._errors import HttpTimeoutError as HttpTimeoutError
from ._retry import RetryPolicy as RetryPolicy
from ._service import HttpService as HttpService
from ._statistics import HttpStatistics as HttpStatistics
from ._sync import SyncHttpService as SyncHttpService

__all__ = (
    "BreakerSettings",
    "BreakerState",
    "BreakerStatistics",
    "HttpAuthenticationError",
    "HttpCircuitOpenError",
    "HttpCommandError",
    "HttpConfig",
    "HttpConflictError",
    "HttpConnectError",
    "HttpDataError",
    "HttpError",
    "HttpNotFoundError",
    "HttpPermissionDeniedError",
    "HttpService",
    "HttpStatistics",
    "HttpStatusError",
    "HttpTimeoutError",
    "RetryPolicy",
    "SyncHttpService",
)


mark_public(__name__, globals(), __all__)
