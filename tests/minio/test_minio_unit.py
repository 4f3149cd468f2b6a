"""MinioConfig validation and the error mapping, without a server."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread
import pytest
import urllib3
import urllib3.connection
import urllib3.exceptions
from hypothesis import given
from hypothesis import strategies as st
from minio.api import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from pydantic import SecretStr, ValidationError
from urllib3 import HTTPResponse

from anyservices._core._errors import (
    AuthenticationError,
    CommandError,
    ConflictError,
    ConnectError,
    NotFoundError,
    PermissionDeniedError,
    ServiceClosedError,
    ServiceTimeoutError,
)
from anyservices.minio import MinioConfig, MinioConfigurationError, MinioService
from anyservices.minio._config import check_bucket_name, check_object_name
from anyservices.minio._errors import (
    MinioConflictError,
    MinioConnectError,
    MinioDataError,
    MinioError,
    MinioInvalidResponseError,
    MinioNotFoundError,
    MinioPermissionDeniedError,
    MinioResponseError,
    MinioServerError,
    MinioTimeoutError,
    map_errors,
)
from anyservices.minio._transfers import _CallerCancelled, _SourceFailed, _StreamReader


def map_error(
    exc: Exception, *, operation: str, bucket: str | None = None, object_name: str | None = None
) -> MinioError:
    """What ``map_errors`` turns ``exc`` into."""
    with pytest.raises(MinioError) as info, map_errors(operation, bucket, object_name):
        raise exc
    assert info.value.__cause__ is exc
    return info.value


@pytest.mark.parametrize(
    "name", ["abc", "my-bucket", "a.b.c", "x" * 63, "0bucket9", "bucket-1.example"]
)
def test_valid_bucket_names(name: str) -> None:
    assert check_bucket_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ab", "3 to 63"),
        ("x" * 64, "3 to 63"),
        ("Upper", "lowercase"),
        ("under_score", "lowercase"),
        ("-start", "start and end"),
        ("end-", "start and end"),
        ("a..b", r"'\.\.'"),
        ("a.-b", "'..'"),
        ("192.168.1.1", "IP address"),
    ],
)
def test_invalid_bucket_names(name: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_bucket_name(name)


def test_object_names() -> None:
    assert check_object_name("a/b c/ü.txt") == "a/b c/ü.txt"
    for bad, reason in [
        ("", "empty"),
        ("a\x00b", "NUL"),
        ("é" * 513, "1024 bytes"),
        (" \t", "whitespace"),
    ]:
        with pytest.raises(ValueError, match=reason):
            check_object_name(bad)
    assert check_object_name("a" * 1024)


@given(st.text(min_size=1, max_size=80))
def test_object_name_rule_matches_definition(name: str) -> None:
    ok = (
        "\x00" not in name
        and len(name.encode("utf-8", "surrogatepass")) <= 1024
        and name.strip() != ""
    )
    if ok:
        assert check_object_name(name) == name
    else:
        with pytest.raises(ValueError):
            check_object_name(name)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("endpoint", "http://host:9000"),
        ("endpoint", "host:9000/path"),
        ("endpoint", ""),
        ("default_bucket", "Bad_Bucket"),
        ("part_size", 1024),
        ("max_concurrency", 0),
        ("access_key", "has space"),
        ("region", "us/east"),
        ("secret_key", "s3cr3t\x00value"),
        ("session_token", "t0ken\nvalue"),
    ],
)
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field) as info:
        MinioConfig.model_validate({field: value})
    if field in {"secret_key", "session_token"}:
        assert str(value) not in str(info.value)


def test_secrets_hidden_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    config = MinioConfig(
        secret_key=SecretStr("s3cr3t-value"), session_token=SecretStr("t0ken-value")
    )
    assert "s3cr3t-value" not in repr(config)
    assert "t0ken-value" not in repr(config)
    assert "s3cr3t-value" not in repr(MinioService(config))
    monkeypatch.setenv("ANYSERVICES_MINIO_ENDPOINT", "example.com:9100")
    monkeypatch.setenv("ANYSERVICES_MINIO_SECRET_KEY", "from-env")
    monkeypatch.setenv("ANYSERVICES_MINIO_DEFAULT_BUCKET", "env-bucket")
    loaded = MinioConfig.from_env()
    assert loaded.endpoint == "example.com:9100"
    assert loaded.secret_key.get_secret_value() == "from-env"
    assert loaded.default_bucket == "env-bucket"


def _s3(code: str, status: int) -> S3Error:
    response = HTTPResponse(body=b"", status=status)
    return S3Error(response, code, "server says " + code, "/b/k", "req", "host", "b", "k")


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("NoSuchKey", 404, NotFoundError),
        ("NoSuchBucket", 404, NotFoundError),
        ("AccessDenied", 403, PermissionDeniedError),
        ("SignatureDoesNotMatch", 403, AuthenticationError),
        ("InvalidAccessKeyId", 403, AuthenticationError),
        ("BucketAlreadyExists", 409, ConflictError),
        ("BucketAlreadyOwnedByYou", 409, ConflictError),
    ],
)
def test_s3_codes_map_to_kinds(code: str, status: int, kind: type[Exception]) -> None:
    error = map_error(_s3(code, status), operation="op", bucket="bkt", object_name="obj/key")
    assert isinstance(error, kind)
    assert error.code == code
    assert "'bkt'" in str(error)
    assert "'obj/key'" in str(error)


_POOL = urllib3.HTTPConnectionPool("127.0.0.1", 1)


def test_transport_errors_map() -> None:
    timeout = map_error(urllib3.exceptions.ReadTimeoutError(_POOL, "/", "slow"), operation="op")
    assert isinstance(timeout, ServiceTimeoutError)
    refused = map_error(urllib3.exceptions.MaxRetryError(_POOL, "/"), operation="op", bucket="b")
    assert isinstance(refused, ConnectError)
    assert "b" in str(refused)


async def test_calls_before_open_refused() -> None:
    service = MinioService(MinioConfig(default_bucket="bkt"))
    with pytest.raises(ServiceClosedError, match="async with"):
        await service.remove_bucket()


async def test_no_bucket_configured_message() -> None:
    service = MinioService(MinioConfig())
    service._state = type(service.state).OPEN
    with pytest.raises(MinioConfigurationError, match="default_bucket"):
        await service.remove_bucket()


def test_s3_errors_are_the_sdks_s3error_with_its_fields() -> None:
    raw = _s3("NoSuchKey", 404)
    error = map_error(raw, operation="stat_object", bucket="b", object_name="k")
    assert isinstance(error, MinioNotFoundError)
    assert isinstance(error, S3Error)
    assert (error.code, error.response, error.request_id, error.host_id) == (
        "NoSuchKey",
        raw.response,
        "req",
        "host",
    )
    assert (error.bucket_name, error.object_name) == ("b", "k")
    assert repr(error).startswith("MinioNotFoundError(")
    other = map_error(_s3("InvalidArgument", 400), operation="op")
    assert isinstance(other, MinioResponseError)
    assert type(other) is MinioResponseError
    assert isinstance(other, S3Error)
    assert "server says InvalidArgument" in str(other)


def test_our_s3_error_built_alone_still_has_the_sdk_fields() -> None:
    error = MinioNotFoundError("gone", code="NoSuchKey")
    assert isinstance(error, S3Error)
    assert error.response.status == 0
    assert (error.request_id, error.bucket_name, error.object_name) == (None, None, None)


def test_server_and_invalid_response_errors_stay_the_sdks() -> None:
    server = map_error(ServerError("server failed", 503), operation="op", bucket="b")
    assert isinstance(server, MinioServerError)
    assert isinstance(server, ServerError)
    assert isinstance(server, CommandError)
    assert server.status_code == 503
    assert "HTTP 503" in str(server)
    invalid = map_error(
        InvalidResponseError(502, "text/html", "<html>"), operation="op", bucket="b"
    )
    assert isinstance(invalid, MinioInvalidResponseError)
    assert isinstance(invalid, InvalidResponseError)
    assert isinstance(invalid, MinioException)
    assert "<html>" not in str(invalid)


def test_argument_errors_stay_value_errors() -> None:
    error = map_error(ValueError("expires must be between 1 second to 7 days"), operation="op")
    assert isinstance(error, MinioConfigurationError)
    assert isinstance(error, ValueError)
    assert "expires" in str(error)
    assert isinstance(MinioDataError("x"), MinioError)


def test_transport_errors_stay_urllib3s() -> None:
    timeout = map_error(urllib3.exceptions.ReadTimeoutError(_POOL, "/", "slow"), operation="op")
    assert isinstance(timeout, MinioTimeoutError)
    assert isinstance(timeout, urllib3.exceptions.TimeoutError)
    assert isinstance(timeout, TimeoutError)
    assert isinstance(map_error(TimeoutError("socket"), operation="op"), MinioTimeoutError)
    refused = map_error(ConnectionRefusedError(111, "refused"), operation="op")
    assert isinstance(refused, MinioConnectError)
    assert isinstance(refused, urllib3.exceptions.HTTPError)


def test_the_boundary_lets_ours_and_others_through() -> None:
    ours = MinioNotFoundError("mine")
    with pytest.raises(MinioNotFoundError) as info, map_errors("op"):
        raise ours
    assert info.value is ours
    with pytest.raises(KeyError), map_errors("op"):
        raise KeyError("a programming error is not the server's")


def test_retries_exhausted_map_to_what_failed_last() -> None:
    def exhausted(reason: Exception | None) -> urllib3.exceptions.MaxRetryError:
        return urllib3.exceptions.MaxRetryError(_POOL, "/", reason)

    read_timeout = urllib3.exceptions.ReadTimeoutError(_POOL, "/", "slow")
    read = map_error(exhausted(read_timeout), operation="op")
    assert isinstance(read, MinioTimeoutError)
    assert "read_timeout" in str(read)
    connect = map_error(exhausted(urllib3.exceptions.ConnectTimeoutError()), operation="op")
    assert isinstance(connect, MinioTimeoutError)
    assert "connect_timeout" in str(connect)
    connection = urllib3.connection.HTTPConnection("127.0.0.1", 1)
    refused_error = urllib3.exceptions.NewConnectionError(connection, "refused")
    refused = map_error(exhausted(refused_error), operation="op")
    assert isinstance(refused, MinioConnectError)
    assert "NewConnectionError" in str(refused)
    assert isinstance(map_error(exhausted(None), operation="op"), MinioConnectError)


# -- opening, with the SDK's calls answered here (no server) ---------------------------


def _answer(monkeypatch: pytest.MonkeyPatch, name: str, outcome: object) -> list[object]:
    """Make ``Minio.<name>`` return ``outcome`` (raise it, if an exception); record calls."""
    calls: list[object] = []

    def fake(self: Minio, *args: object, **kwargs: object) -> object:
        calls.append(args)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(Minio, name, fake)
    return calls


async def test_credentials_limited_to_the_default_bucket_still_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _answer(monkeypatch, "list_buckets", _s3("AccessDenied", 403))
    checked = _answer(monkeypatch, "bucket_exists", True)  # noqa: FBT003 -- the SDK's answer
    async with MinioService(MinioConfig(default_bucket="bkt")):
        pass
    assert checked == [("bkt",)]


async def test_credentials_that_cannot_list_without_a_default_bucket_fail_to_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _answer(monkeypatch, "list_buckets", _s3("AccessDenied", 403))
    with pytest.raises(MinioPermissionDeniedError):
        async with MinioService(MinioConfig()):
            pass


async def test_a_bucket_created_meanwhile_by_us_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    _answer(monkeypatch, "list_buckets", [])
    _answer(monkeypatch, "bucket_exists", False)  # noqa: FBT003 -- the SDK's answer
    made = _answer(monkeypatch, "make_bucket", _s3("BucketAlreadyOwnedByYou", 409))
    async with MinioService(MinioConfig(default_bucket="bkt", auto_create_bucket=True)):
        pass
    assert made == [("bkt",)]


async def test_a_bucket_name_taken_by_someone_else_fails_to_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _answer(monkeypatch, "list_buckets", [])
    _answer(monkeypatch, "bucket_exists", False)  # noqa: FBT003 -- the SDK's answer
    _answer(monkeypatch, "make_bucket", _s3("BucketAlreadyExists", 409))
    with pytest.raises(MinioConflictError, match=r"\[BucketAlreadyExists\]"):
        async with MinioService(MinioConfig(default_bucket="bkt", auto_create_bucket=True)):
            pass


# -- the upload reader: a pull that starts after the caller was cancelled ---------------


async def test_a_pull_that_starts_after_the_cancel_stops_at_once() -> None:
    async def endless() -> AsyncIterator[bytes]:
        yield b"a"
        await anyio.sleep_forever()

    reader = _StreamReader(endless(), None, None, ("upload_stream", "b", "o"))
    started, go = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def in_thread() -> None:  # the SDK's thread: it reads only once the caller is cancelled
        started.set()
        go.wait(10)
        try:
            reader.read(10)
        except _SourceFailed as exc:
            errors.append(exc.error)

    async def cancel_then_read(scope: anyio.CancelScope) -> None:
        await anyio.to_thread.run_sync(started.wait, 10)
        scope.cancel()
        go.set()

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_then_read, scope)
            await anyio.to_thread.run_sync(in_thread)
    assert scope.cancel_called
    # asyncio never tells the late pull: it sees the scope; trio raises at its checkpoint.
    assert len(errors) == 1
    assert isinstance(errors[0], (_CallerCancelled, anyio.get_cancelled_exc_class()))
