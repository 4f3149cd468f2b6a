"""S3 chaos (issue 10): cancellation mid-transfer, servers that never answer, hostile input,
secrets in logs. Every fault must end in our error (or the cancellation), store nothing
half-done and leave the service working.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from anyservices import ServiceTimeoutError
from anyservices.minio import (
    MinioConfig,
    MinioError,
    MinioNotFoundError,
    MinioService,
    MinioTimeoutError,
)
from anyservices.testing import Face, open_face

MiB = 1024 * 1024
_BUCKETS_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Owner><ID>o</ID><DisplayName>o</DisplayName></Owner><Buckets><Bucket>"
    b"<Name>silent</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate>"
    b"</Bucket></Buckets></ListAllMyBucketsResult>"
)
_BUCKETS_REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: "
    + str(len(_BUCKETS_XML)).encode()
    + b"\r\n\r\n"
    + _BUCKETS_XML
)


class _QuietServer:
    """A private socket that accepts and answers ``GET /`` (list buckets) at most: every
    other request waits forever (or, with ``answer_list=False``, every request)."""

    def __init__(self, *, answer_list: bool) -> None:
        self._answer_list = answer_list
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def endpoint(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer: bytes = b""
        while not self._stop.is_set():
            try:
                data: bytes = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                head, buffer = buffer[:end], buffer[end + 4 :]
                if not (self._answer_list and head.startswith(b"GET / ")):
                    self._stop.wait()  # never answer
                    return
                conn.sendall(_BUCKETS_REPLY)

    def close(self) -> None:
        self._stop.set()
        for sock in [self._listener, *self._conns]:
            with contextlib.suppress(OSError):  # shutdown wakes a blocked accept/recv
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def quiet_server() -> Iterator[Callable[..., _QuietServer]]:
    servers: list[_QuietServer] = []

    def start(*, answer_list: bool) -> _QuietServer:
        servers.append(_QuietServer(answer_list=answer_list))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# -- servers that accept and never answer --------------------------------------------


@pytest.mark.parametrize("retries", [0, 2])
async def test_silent_server_times_out_on_open(
    face: Face, quiet_server: Callable[..., _QuietServer], retries: int
) -> None:
    server = quiet_server(answer_list=False)
    config = MinioConfig(
        endpoint=server.endpoint, read_timeout=0.3, connect_timeout=0.3, retries=retries
    )
    with pytest.raises(MinioTimeoutError, match=r"read_timeout") as info:
        async with open_face(face, MinioService(config)):
            pytest.fail("must not open")
    assert isinstance(info.value, ServiceTimeoutError)
    assert isinstance(info.value, TimeoutError)


async def test_server_silent_after_open_times_out_every_call(
    face: Face, quiet_server: Callable[..., _QuietServer]
) -> None:
    server = quiet_server(answer_list=True)
    config = MinioConfig(endpoint=server.endpoint, region="us-east-1", read_timeout=0.3, retries=0)
    async with open_face(face, MinioService(config)) as s3:
        assert await s3.health_check() == ["silent"]
        calls: list[Callable[[], Any]] = [
            functools.partial(s3.stat_object, "k", bucket_name="silent"),
            functools.partial(s3.download_data, "k", bucket_name="silent"),
            functools.partial(s3.upload_data, "k", b"x", bucket_name="silent"),
            functools.partial(s3.bucket_exists, "silent"),
        ]
        for call in calls:
            with pytest.raises(MinioTimeoutError, match="read_timeout"):
                await call()
        assert await s3.health_check() == ["silent"]  # still usable
        assert s3.statistics().threads.threads_in_use == 0


# -- cancellation mid-transfer --------------------------------------------------------


def _block() -> bytes:
    return bytes(i % 251 for i in range(MiB))


@pytest.mark.faces("asyncio", "trio")
@pytest.mark.parametrize("after_chunks", [0, 1, 4, 6, 11])
async def test_cancel_mid_upload_stores_nothing(
    face: Face,
    minio_config: MinioConfig,
    open_uploads: Callable[[], list[str]],
    after_chunks: int,
) -> None:
    """The source cancels its caller after ``after_chunks`` 1 MiB chunks (5 MiB parts)."""
    block = _block()
    async with open_face(face, MinioService(minio_config)) as s3:
        with anyio.CancelScope() as scope:

            async def source() -> AsyncGenerator[bytes]:
                for index in range(20):
                    if index == after_chunks:
                        scope.cancel()
                    yield block

            async with aclosing(source()) as chunks:  # the owner closes its source
                await s3.upload_data("cut.bin", chunks)
        assert scope.cancelled_caught
        with pytest.raises(MinioNotFoundError):
            await s3.stat_object("cut.bin")
        assert open_uploads() == []
        assert s3.statistics().threads.threads_in_use == 0
        await s3.upload_data("after.bin", block * 6)  # the service keeps working
        assert await s3.download_data("after.bin") == block * 6


@pytest.mark.faces("asyncio", "trio")
@pytest.mark.parametrize("after_chunks", [0, 1, 3])
async def test_cancel_mid_download_releases_and_leaves_no_file(
    face: Face, minio_config: MinioConfig, tmp_path: Path, after_chunks: int
) -> None:
    block = _block()
    async with open_face(face, MinioService(minio_config)) as s3:
        await s3.upload_data("big.bin", block * 6)
        for _ in range(2):  # twice: a leaked connection or thread would show the second time
            stream = cast("AsyncGenerator[bytes]", s3.download_stream("big.bin", chunk_size=MiB))
            with anyio.CancelScope() as scope:
                count = 0
                async with aclosing(stream):
                    async for _chunk in stream:
                        count += 1
                        if count > after_chunks:
                            scope.cancel()
                            await anyio.lowlevel.checkpoint()
            assert scope.cancelled_caught

            def cancel_after(done: int, _total: int | None) -> None:
                if done > after_chunks * MiB:
                    scope.cancel()  # this round's scope

            with anyio.CancelScope() as scope:
                await s3.download_file("big.bin", tmp_path / "out.bin", progress=cancel_after)
            assert scope.cancelled_caught
            left = [path async for path in anyio.Path(tmp_path).iterdir()]
            assert left == []  # neither the target nor a partial file
        assert s3.statistics().threads.threads_in_use == 0
        assert await s3.download_data("big.bin") == block * 6


# -- hostile input: only our errors (or success) -------------------------------------

_ANY_CHAR = st.characters(exclude_categories=[])  # surrogates and controls included
_NAMES = st.one_of(
    st.text(_ANY_CHAR, max_size=40),
    st.text(st.sampled_from("a/._- %?#&+=\\~"), max_size=12),
    st.text(max_size=300),
    st.integers(1020, 1030).map(lambda n: "k" * n),
)
_METADATA = st.none() | st.dictionaries(
    st.text(_ANY_CHAR, max_size=12), st.text(_ANY_CHAR, max_size=24), max_size=3
)
_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _ours_or_success(call: Callable[[], Any]) -> Any:
    """``call()`` from the hypothesis thread on the test's loop; MinioError is an answer."""
    try:
        return anyio.from_thread.run(call)
    except MinioError:
        return None


async def test_any_object_name_and_metadata_give_our_errors_only(
    face: Face, minio_config: MinioConfig
) -> None:
    async with open_face(face, MinioService(minio_config)) as s3:

        @_SETTINGS
        @given(name=_NAMES, metadata=_METADATA)
        def check(name: str, metadata: dict[str, str] | None) -> None:
            stored = _ours_or_success(
                functools.partial(s3.upload_data, name, b"payload", metadata=metadata)
            )
            if stored is None:
                return
            assert stored == name
            assert _ours_or_success(functools.partial(s3.download_data, name)) in {
                b"payload",
                None,
            }
            _ours_or_success(functools.partial(s3.stat_object, name))
            _ours_or_success(functools.partial(s3.generate_presigned_url, name))
            _ours_or_success(functools.partial(s3.remove_object, name))

        await anyio.to_thread.run_sync(check)


_CONFIGS = st.fixed_dictionaries(
    {},
    optional={
        "endpoint": st.one_of(
            st.sampled_from(["127.0.0.1", "localhost", "[::1]", "::1", "[::1", "127.0.0.1:"]),
            st.from_regex(r"\A127\.0\.0\.1:[0-9a-z:\-\[\]]{0,7}\Z"),
        ),
        "access_key": st.text(_ANY_CHAR, max_size=20),
        # A marker in front: a secret like "region" would be found in any error's text.
        "secret_key": st.text(_ANY_CHAR, max_size=20).map("Zq7".__add__),
        "session_token": st.text(_ANY_CHAR, max_size=20).map("Zq7".__add__),
        "region": st.text(_ANY_CHAR, max_size=12),
        "secure": st.booleans(),
    },
)


async def test_any_config_gives_validation_or_our_errors_only(
    face: Face, s3_env: dict[str, str]
) -> None:
    real = {
        "endpoint": s3_env["ANYSERVICES_MINIO_ENDPOINT"],
        "access_key": s3_env["ANYSERVICES_MINIO_ACCESS_KEY"],
        "secret_key": s3_env["ANYSERVICES_MINIO_SECRET_KEY"],
        "region": s3_env.get("ANYSERVICES_MINIO_REGION") or None,
    }

    async def open_and_list(config: MinioConfig) -> None:
        async with open_face(face, MinioService(config)) as s3:
            await s3.list_buckets()

    @_SETTINGS
    @given(changes=_CONFIGS)
    def check(changes: dict[str, object]) -> None:
        values = {**real, **changes, "retries": 0, "connect_timeout": 1, "read_timeout": 5}
        secrets = [str(values.get(key) or "") for key in ("secret_key", "session_token")]
        try:
            config = MinioConfig.model_validate(values)
        except ValidationError as exc:
            texts = [str(exc), repr(exc.errors())]
        else:
            try:
                anyio.from_thread.run(open_and_list, config)
            except MinioError as exc:
                texts = _chain(exc)
            else:
                return
        for secret in secrets:
            if len(secret) >= 6 and secret not in real.values():  # not a fragment
                assert not any(secret in text for text in texts)

    await anyio.to_thread.run_sync(check)


# -- secrets in no repr, error or log line --------------------------------------------

SECRET = "s3cr3t-Do-Not-Print-0042"
TOKEN = "t0ken-Do-Not-Print-0042"


async def test_secrets_in_no_repr_error_or_log_record(
    face: Face,
    minio_config: MinioConfig,
    quiet_server: Callable[..., _QuietServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in (None, "urllib3", "minio", "anyservices"):
        caplog.set_level(logging.DEBUG, logger=name)
    quiet = quiet_server(answer_list=True)
    configs = [
        minio_config.model_copy(update={"secret_key": SecretStr(SECRET)}),  # wrong secret
        minio_config.model_copy(update={"session_token": SecretStr(TOKEN)}),  # bogus token
        MinioConfig(
            endpoint=quiet.endpoint,
            secret_key=SecretStr(SECRET),
            session_token=SecretStr(TOKEN),
            region="us-east-1",
            read_timeout=0.3,
            retries=0,
        ),
        MinioConfig(endpoint="127.0.0.1:1", secret_key=SecretStr(SECRET), retries=0),
    ]
    texts: list[str] = []
    for config in configs:
        service = MinioService(config)
        texts += [repr(config), str(config), repr(service)]
        try:
            async with open_face(face, service) as s3:
                texts.append(repr(s3))
                texts.append(str(await s3.health_check()))
                for call in (
                    functools.partial(s3.upload_data, "k", b"x", bucket_name="silent"),
                    functools.partial(s3.stat_object, "k", bucket_name="silent"),
                ):
                    with pytest.raises(MinioError) as info:
                        await call()
                    texts += _chain(info.value)
        except MinioError as exc:
            texts += _chain(exc)
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    assert any("urllib3" in record.name for record in caplog.records)  # DEBUG lines were seen
    for text in texts:
        assert SECRET not in text
        assert TOKEN not in text


def _chain(error: BaseException) -> list[str]:
    """The texts of ``error`` and of every exception chained to it."""
    texts: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen), repr(seen.args)]
        seen = seen.__cause__ or seen.__context__
    return texts
