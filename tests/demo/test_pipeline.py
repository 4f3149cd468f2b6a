"""The demo pipeline and its runner on in-memory services (no servers, no network)."""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, cast

import pytest

import anyservices.devservers
from anyservices import __main__ as cli
from anyservices._core._errors import ConnectError
from anyservices._demo import _run
from anyservices._demo._documents import DOCUMENTS, Document, content_of
from anyservices._demo._pipeline import pipeline
from anyservices._demo._report import LOOKUP_LIMIT, Report
from anyservices._demo._services import DemoServices
from anyservices.http import HttpService
from anyservices.minio import MinioService
from anyservices.mongo import MongoService
from anyservices.redis import RedisService

_CHUNK = 64 * 1024


class _Http:
    async def get_models(self, path: str, model: type[Document]) -> list[Document]:
        assert (path, model) == ("/documents", Document)
        return list(DOCUMENTS)

    async def stream_bytes(self, path: str) -> AsyncGenerator[bytes, None]:
        document_id = path.split("/")[2]
        body = content_of(document_id, next(d.size for d in DOCUMENTS if d.id == document_id))
        for start in range(0, len(body), _CHUNK):
            yield body[start : start + _CHUNK]


@dataclass
class _Stat:
    size: int


class _S3:
    def __init__(self) -> None:
        self.objects: dict[str, int] = {}

    async def upload_stream(
        self,
        name: str,
        body: AsyncIterable[bytes],
        *,
        length: int,
        progress: Callable[[int, int | None], None],
    ) -> None:
        done = 0
        progress(done, length)
        async for chunk in body:
            done += len(chunk)
            progress(done, length)
        self.objects[name] = done

    async def stat_object(self, name: str) -> _Stat:
        return _Stat(self.objects[name])


class _Mongo:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def create_index(self, collection: str, keys: list[tuple[str, int]]) -> str:
        del collection
        return "_".join(f"{field}_{order}" for field, order in keys)

    async def update_one(
        self, collection: str, query: dict[str, Any], update: dict[str, Any], *, upsert: bool
    ) -> None:
        del collection
        assert upsert
        self.rows[query["_id"]] = update["$set"]

    async def count_documents(self, collection: str, query: dict[str, Any]) -> int:
        del collection
        return sum(row["face"] == query["face"] for row in self.rows.values())

    async def aggregate(self, collection: str, stages: list[dict[str, Any]]) -> list[Any]:
        del collection, stages
        authors = [row["author"] for row in self.rows.values()]
        return [{"_id": author, "n": authors.count(author)} for author in sorted(set(authors))]

    async def find_one(self, collection: str, query: dict[str, Any]) -> dict[str, Any] | None:
        del collection
        return self.rows.get(query["_id"])


class _Subscription:
    def __init__(self) -> None:
        self.pending: list[str] = []
        self.timeouts: list[float] = []

    async def get_message(
        self,
        ignore_subscribe_messages: bool,
        timeout: float,  # noqa: ASYNC109 -- redis-py's signature
    ) -> str | None:
        assert ignore_subscribe_messages
        self.timeouts.append(timeout)
        return self.pending.pop() if self.pending else None


class _Cached:
    def __init__(self, func: Callable[[str], Awaitable[str]], store: dict[str, str]) -> None:
        self._func = func
        self._store = store

    async def __call__(self, document_id: str) -> str:
        if document_id not in self._store:
            self._store[document_id] = await self._func(document_id)
        return self._store[document_id]

    async def invalidate_all(self) -> int:
        count = len(self._store)
        self._store.clear()
        return count


class _Redis:
    def __init__(self, *, deliver: bool) -> None:
        self.deliver = deliver
        self.subscription = _Subscription()
        self.cached: dict[str, str] = {}
        self.calls = 0

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncGenerator[_Subscription, None]:
        assert channel.startswith("documents:")
        yield self.subscription

    async def publish(self, channel: str, message: str) -> int:
        del channel
        if self.deliver:
            self.subscription.pending.append(message)
        return 1

    async def check_rate_limit(
        self, key: str, limit: int, *, window_seconds: int
    ) -> tuple[bool, int]:
        del key, window_seconds
        self.calls += 1
        return self.calls <= limit, max(0, limit - self.calls)

    def cache(
        self, *, ttl: int, key_prefix: str
    ) -> Callable[[Callable[[str], Awaitable[str]]], _Cached]:
        assert ttl > 0
        assert key_prefix.startswith("lookup:")
        return lambda func: _Cached(func, self.cached)


def _services(*, deliver: bool = True) -> tuple[DemoServices, _Redis]:
    redis = _Redis(deliver=deliver)
    services = DemoServices(
        http=cast("HttpService", _Http()),
        s3=cast("MinioService", _S3()),
        mongo=cast("MongoService", _Mongo()),
        redis=cast("RedisService", redis),
        run_id="test",
    )
    return services, redis


async def test_the_pipeline_counts_every_step() -> None:
    services, redis = _services()
    report = Report(face="trio", how="test")
    await pipeline(services, report)
    n = len(DOCUMENTS)
    assert report.ok, report.lines()
    assert report.bytes_stored == sum(d.size for d in DOCUMENTS)
    assert report.by_author == {"ada": 2, "alan": 1, "claude": 1, "edsger": 2}
    assert (report.allowed, report.denied, report.computed) == (LOOKUP_LIMIT, 2 * n - 10, n)
    assert redis.cached == {}  # invalidated at the end


async def test_events_that_do_not_come_back_end_the_wait_and_the_report_says_so() -> None:
    services, redis = _services(deliver=False)
    report = Report(face="asyncio", how="test")
    await pipeline(services, report)
    assert (report.published, report.received) == (len(DOCUMENTS), 0)
    assert not report.ok
    assert "COUNTS DISAGREE" in report.lines()[0]
    assert len(redis.subscription.timeouts) == 1  # one bounded wait, not a hang
    assert 0 < redis.subscription.timeouts[0] <= 10


@contextmanager
def _no_server() -> Any:
    yield "http://127.0.0.1:9"


def _report(face: str, *, ok: bool) -> Report:
    n = len(DOCUMENTS) if ok else 0
    return Report(
        face=face,
        how=f"on {face}",
        documents=n,
        verified=n,
        indexed=n,
        published=n,
        received=n,
        allowed=LOOKUP_LIMIT,
        computed=LOOKUP_LIMIT,
        denied=2 * n - LOOKUP_LIMIT,
    )


def test_run_demo_prints_each_report_and_fails_when_counts_disagree(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[tuple[str, str]] = []

    def run_face(face: str, source: str) -> Report:
        ran.append((face, source))
        return _report(face, ok=face != "trio")

    monkeypatch.setattr(_run, "document_server", _no_server)
    monkeypatch.setattr(_run, "run_face", run_face)
    assert _run.run_demo(["asyncio"], start_servers=False) == 0
    assert _run.run_demo(["trio", "sync"], start_servers=False) == 1  # trio disagrees
    assert ran == [(f, "http://127.0.0.1:9") for f in ("asyncio", "trio", "sync")]
    out = capsys.readouterr().out
    assert out.count("documents in") == 3
    assert "[trio] on trio" in out
    assert "COUNTS DISAGREE" in out


def test_run_demo_starts_servers_and_names_a_failure_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANYSERVICES_DEMO_TEST_URL", "unset")
    started: list[tuple[str, ...]] = []

    def ensure_started(names: tuple[str, ...]) -> dict[str, str]:
        started.append(names)
        return {"ANYSERVICES_DEMO_TEST_URL": "redis://127.0.0.1:1"}

    def run_face(face: str, source: str) -> Report:
        del source
        raise ConnectError(f"cannot reach redis from {face}")

    monkeypatch.setattr(anyservices.devservers, "ensure_started", ensure_started)
    monkeypatch.setattr(_run, "document_server", _no_server)
    monkeypatch.setattr(_run, "run_face", run_face)
    assert _run.run_demo(["sync", "trio"]) == 1
    assert started == [("redis", "mongo", "s3")]
    assert os.environ["ANYSERVICES_DEMO_TEST_URL"] == "redis://127.0.0.1:1"
    captured = capsys.readouterr()
    assert "checking servers" in captured.out
    assert captured.err == "[sync] failed: cannot reach redis from sync\n"  # stops at the first


def test_the_cli_runs_the_demo_or_the_health_check(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []

    def run_demo(faces: list[str], *, start_servers: bool) -> int:
        calls.append((faces, start_servers))
        return 0

    def health_main(*, deadline: float, as_json: bool) -> int:
        calls.append((deadline, as_json))
        return 1

    monkeypatch.setattr("anyservices._demo.run_demo", run_demo)
    monkeypatch.setattr("anyservices.health.main", health_main)
    assert cli.main(["demo"]) == 0
    assert cli.main(["demo", "--face", "trio", "--face", "sync", "--no-start"]) == 0
    assert cli.main(["health", "--deadline", "2.5"]) == 1
    assert cli.main(["health", "--json"]) == 1
    assert calls == [
        (["asyncio", "trio", "sync"], True),
        (["trio", "sync"], False),
        (2.5, False),
        (5.0, True),
    ]
    with pytest.raises(SystemExit):
        cli.main([])


def test_python_dash_m_anyservices_exits_with_mains_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def run_demo(faces: list[str], *, start_servers: bool) -> int:
        assert (faces, start_servers) == (["asyncio", "trio", "sync"], False)
        return 3

    monkeypatch.setattr("anyservices._demo.run_demo", run_demo)
    monkeypatch.setattr(sys, "argv", ["python -m anyservices", "demo", "--no-start"])
    monkeypatch.delitem(sys.modules, "anyservices.__main__")
    # Our pytest11 plugin makes pytest rewrite the package's asserts; its import hook has
    # no get_code(), which runpy needs: let the regular finders load the module.
    hooks = [hook for hook in sys.meta_path if type(hook).__name__ != "AssertionRewritingHook"]
    monkeypatch.setattr(sys, "meta_path", hooks)
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("anyservices", run_name="__main__")
    assert exited.value.code == 3


def test_run_demo_names_the_first_of_failed_concurrent_steps_and_reraises_bugs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failures: list[BaseException] = [
        ExceptionGroup("stores", [ConnectError("s3 is away"), ConnectError("and so is redis")]),
        ExceptionGroup("outer", [ExceptionGroup("inner", [ConnectError("nested")])]),
    ]

    def run_face(face: str, source: str) -> Report:
        del face, source
        raise failures.pop(0)

    monkeypatch.setattr(_run, "document_server", _no_server)
    monkeypatch.setattr(_run, "run_face", run_face)
    assert _run.run_demo(["asyncio"], start_servers=False) == 1
    assert _run.run_demo(["trio"], start_servers=False) == 1
    assert capsys.readouterr().err == "[asyncio] failed: s3 is away\n[trio] failed: nested\n"
    bug = ExceptionGroup("stores", [ConnectError("s3 is away"), KeyError("size")])
    failures.append(bug)
    with pytest.raises(ExceptionGroup) as raised:
        _run.run_demo(["sync"], start_servers=False)
    assert raised.value is bug  # a bug keeps its traceback
