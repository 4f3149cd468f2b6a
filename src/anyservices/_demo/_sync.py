"""The demo pipeline in plain synchronous code, through ``anyservices.blocking``.

The services are the very same objects as on asyncio and trio; each call runs on the
shared portal. Documents are stored from a small thread pool, as a sync app would.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from .._core._blocking import blocking
from ..http import SyncHttpService
from ..minio import SyncMinioService
from ..mongo import SyncMongoService
from ..redis import SyncRedisService
from ._documents import Document
from ._records import INDEX_KEYS, authors_pipeline, object_name, record, record_id
from ._report import COLLECTION, LOOKUP_LIMIT, Report
from ._services import demo_services

__all__ = ("run_sync",)

_THREADS = 3


def run_sync(source: str) -> Report:
    """The steps of :func:`~anyservices._demo._async.run_async`, without ``await``."""
    started = time.perf_counter()
    report = Report(
        face="sync", how="sync code on the shared blocking portal (asyncio)", source=source
    )
    services = demo_services("sync", source)
    with ExitStack() as stack:
        http = stack.enter_context(blocking(services.http))
        s3 = stack.enter_context(blocking(services.s3))
        mongo = stack.enter_context(blocking(services.mongo))
        redis = stack.enter_context(blocking(services.redis))
        channel = f"documents:{services.run_id}"

        def store(document: Document) -> None:
            _store(http, s3, mongo, redis, channel, document, report)

        documents = http.get_models("/documents", Document)
        report.documents = len(documents)
        report.index_name = mongo.create_index(COLLECTION, INDEX_KEYS)
        with redis.subscribe(channel) as events:
            with ThreadPoolExecutor(_THREADS, thread_name_prefix="demo") as pool:
                list(pool.map(store, documents))  # list(): re-raise the first failure
            for _ in events:
                report.received += 1
                if report.received == report.published:
                    break
        report.indexed = mongo.count_documents(COLLECTION, {"face": "sync"})
        for row in mongo.aggregate(COLLECTION, authors_pipeline("sync")):
            report.by_author[str(row["_id"])] = int(row["n"])
        _lookups(mongo, redis, services.run_id, documents, report)
    report.elapsed_ms = (time.perf_counter() - started) * 1000
    return report


def _store(
    http: SyncHttpService,
    s3: SyncMinioService,
    mongo: SyncMongoService,
    redis: SyncRedisService,
    channel: str,
    document: Document,
    report: Report,
) -> None:
    name = object_name("sync", document.id)

    def progress(done: int, total: int | None) -> None:
        del done, total
        report.progress_updates += 1

    body = http.stream_bytes(f"/documents/{document.id}/content")
    s3.upload_stream(name, body, length=document.size, progress=progress)
    stat = s3.stat_object(name)
    report.bytes_stored += stat.size
    report.verified += stat.size == document.size
    mongo.update_one(
        COLLECTION,
        {"_id": record_id("sync", document.id)},
        {"$set": record("sync", document)},
        upsert=True,
    )
    report.published += 1
    redis.publish(channel, document.id)


def _lookups(
    mongo: SyncMongoService,
    redis: SyncRedisService,
    run_id: str,
    documents: list[Document],
    report: Report,
) -> None:
    @redis.cache(ttl=60, key_prefix=f"lookup:{run_id}")
    def lookup(document_id: str) -> str:
        report.computed += 1
        found = mongo.find_one(COLLECTION, {"_id": record_id("sync", document_id)})
        return "" if found is None else str(found["title"])

    try:
        for document in documents * 2:
            allowed, _ = redis.check_rate_limit(
                f"lookups:{run_id}", LOOKUP_LIMIT, window_seconds=60
            )
            if not allowed:
                report.denied += 1
                continue
            report.allowed += 1
            lookup(document.id)
    finally:
        lookup.invalidate_all()
    report.cached = report.allowed - report.computed
