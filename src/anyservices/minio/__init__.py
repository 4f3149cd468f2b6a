"""MinioService: S3 object storage on asyncio, trio and sync, via the minio SDK in threads."""

from __future__ import annotations

from .._core._public import mark_public
from ._config import MinioConfig as MinioConfig
from ._errors import MinioAuthenticationError as MinioAuthenticationError
from ._errors import MinioConfigurationError as MinioConfigurationError
from ._errors import MinioConflictError as MinioConflictError
from ._errors import MinioConnectError as MinioConnectError
from ._errors import MinioDataError as MinioDataError
from ._errors import MinioError as MinioError
from ._errors import MinioInvalidResponseError as MinioInvalidResponseError
from ._errors import MinioNotFoundError as MinioNotFoundError
from ._errors import MinioPermissionDeniedError as MinioPermissionDeniedError
from ._errors import MinioResponseError as MinioResponseError
from ._errors import MinioS3Error as MinioS3Error
from ._errors import MinioServerError as MinioServerError
from ._errors import MinioTimeoutError as MinioTimeoutError
from ._service import MinioService as MinioService
from ._statistics import MinioStatistics as MinioStatistics
from ._sync import SyncMinioService as SyncMinioService
from ._types import ObjectStat as ObjectStat
from ._types import ProgressCallback as ProgressCallback
from ._types import UploadSource as UploadSource

__all__ = (
    "MinioAuthenticationError",
    "MinioConfig",
    "MinioConfigurationError",
    "MinioConflictError",
    "MinioConnectError",
    "MinioDataError",
    "MinioError",
    "MinioInvalidResponseError",
    "MinioNotFoundError",
    "MinioPermissionDeniedError",
    "MinioResponseError",
    "MinioS3Error",
    "MinioServerError",
    "MinioService",
    "MinioStatistics",
    "MinioTimeoutError",
    "ObjectStat",
    "ProgressCallback",
    "SyncMinioService",
    "UploadSource",
)


mark_public(__name__, globals(), __all__)
