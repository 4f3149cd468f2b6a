"""Presigned URLs: signed locally by the SDK (no request), checked before signing."""

from __future__ import annotations

import functools
from datetime import timedelta

from minio.helpers import DictType

from ._calls import SdkCalls
from ._errors import MinioConfigurationError

__all__ = ("presigned_url",)

_SHORTEST = timedelta(seconds=1)
_LONGEST = timedelta(days=7)  # S3's limit for signature version 4


async def presigned_url(
    calls: SdkCalls,
    method: str,
    bucket: str,
    obj: str,
    expires: timedelta,
    response_headers: dict[str, str] | None,
) -> str:
    """A URL granting ``method`` on the object until ``expires`` from now."""
    op = "generate_presigned_url"
    if not _SHORTEST <= expires <= _LONGEST:
        msg = f"{op}: expires must be between 1 second and 7 days"
        raise MinioConfigurationError(msg, operation=op, resource=bucket)
    headers: DictType | None = None if response_headers is None else dict(response_headers)
    sign = functools.partial(
        calls.client.get_presigned_url, method.upper(), bucket, obj, expires, headers
    )
    return await calls.run(sign, op, bucket, obj)
