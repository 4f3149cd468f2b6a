from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from anyservices.minio import MinioConfig
from minio import Minio


@pytest.fixture
def s3_server(s3_env: dict[str, str]) -> str:
    """``radosgw`` (checks signatures) or ``moto`` (checks nothing)."""
    return s3_env.get("ANYSERVICES_S3_SERVER", "moto")


@pytest.fixture
def needs_signatures(s3_server: str) -> None:
    if s3_server == "moto":
        pytest.skip("the local S3 server is moto, which does not check signatures")


@pytest.fixture
def minio_config(s3_env: dict[str, str]) -> MinioConfig:
    """The local S3 server with a fresh bucket per test (created on enter)."""
    return MinioConfig(
        endpoint=s3_env["ANYSERVICES_MINIO_ENDPOINT"],
        access_key=s3_env["ANYSERVICES_MINIO_ACCESS_KEY"],
        secret_key=SecretStr(s3_env["ANYSERVICES_MINIO_SECRET_KEY"]),
        secure=s3_env.get("ANYSERVICES_MINIO_SECURE", "false").lower() == "true",
        region=s3_env.get("ANYSERVICES_MINIO_REGION") or None,
        default_bucket=f"t-{uuid.uuid4().hex[:16]}",
        auto_create_bucket=True,
        part_size=5 * 1024 * 1024,
    )


@pytest.fixture
def open_uploads(minio_config: MinioConfig) -> Callable[[], list[str]]:
    """The multipart uploads still open in the test's bucket (aborted ones are gone)."""
    bucket = minio_config.default_bucket
    assert bucket is not None
    sdk = Minio(
        minio_config.endpoint,
        access_key=minio_config.access_key,
        secret_key=minio_config.secret_key.get_secret_value(),
        secure=minio_config.secure,
        region=minio_config.region,
    )

    def names() -> list[str]:
        result = sdk._list_multipart_uploads(bucket)  # the SDK has no public call
        return [str(upload.object_name) for upload in result.uploads]

    return names
