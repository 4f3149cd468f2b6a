"""The demo pipeline, written once on the async API and driven by every face.

On asyncio and trio it calls the services themselves; on the sync face it calls the
``blocking()`` faces through the thin view in ``_sync.py``. Nothing else differs.
"""

from __future__ import annotations

from contextlib import aclosing

import anyio

from ._documents import Document
from ._records import INDEX_KEYS, authors_pipeline, object_name, record, record_id
from ._report import COLLECTION, LOOKUP_LIMIT, Report
from ._services import DemoServices

__all__ = ("EVENT_DEADLINE", "pipeline")

_CONCURRENCY = 3
#: How long the events of one run may take to come back (they take milliseconds).
EVENT_DEADLINE = 10.0


async def pipeline(services: DemoServices, report: Report) -> None:
    """Fetch, store, index, look up and announce every document; count what happened."""
    http, mongo, redis = services.http, services.mongo, services.redis
    documents = await http.get_models("/documents", Document)
    report.documents = len(documents)
    report.index_name = await mongo.create_index(COLLECTION, INDEX_KEYS)
    async with redis.subscribe(f"documents:{services.run_id}") as events:
        limiter = anyio.CapacityLimiter(_CONCURRENCY)
        async with anyio.create_task_group() as task_group:
            for document in documents:
                task_group.start_soon(_store, services, document, report, limiter)
        # The deadline bounds each wait in the service itself, so it holds on every face.
        deadline = anyio.current_time() + EVENT_DEADLINE
        while report.received < report.published:
            timeout = max(0.0, deadline - anyio.current_time())
            if await events.get_message(ignore_subscribe_messages=True, timeout=timeout) is None:
                break  # late: the report shows the events that did not come back
            report.received += 1
    report.indexed = await mongo.count_documents(COLLECTION, {"face": report.face})
    for row in await mongo.aggregate(COLLECTION, authors_pipeline(report.face)):
        report.by_author[str(row["_id"])] = int(row["n"])
    await _lookups(services, documents, report)


async def _store(
    services: DemoServices, document: Document, report: Report, limiter: anyio.CapacityLimiter
) -> None:
    """Stream one body from HTTP into S3 (never whole in memory), then index and announce it."""
    face = report.face
    name = object_name(face, document.id)

    def progress(done: int, total: int | None) -> None:
        del done, total
        report.progress_updates += 1

    async with limiter:
        async with aclosing(
            services.http.stream_bytes(f"/documents/{document.id}/content")
        ) as body:
            await services.s3.upload_stream(name, body, length=document.size, progress=progress)
        stat = await services.s3.stat_object(name)
        report.bytes_stored += stat.size
        report.verified += stat.size == document.size
        await services.mongo.update_one(
            COLLECTION,
            {"_id": record_id(face, document.id)},
            {"$set": record(face, document)},
            upsert=True,
        )
        report.published += 1  # counted first: the subscriber stops when it has them all
        await services.redis.publish(f"documents:{services.run_id}", document.id)


async def _lookups(services: DemoServices, documents: list[Document], report: Report) -> None:
    """Look each document up twice through a Redis cache, under a rate limit."""
    mongo, redis = services.mongo, services.redis

    @redis.cache(ttl=60, key_prefix=f"lookup:{services.run_id}")
    async def lookup(document_id: str) -> str:
        report.computed += 1
        found = await mongo.find_one(COLLECTION, {"_id": record_id(report.face, document_id)})
        return "" if found is None else str(found["title"])

    try:
        for document in documents * 2:
            allowed, _ = await redis.check_rate_limit(
                f"lookups:{services.run_id}", LOOKUP_LIMIT, window_seconds=60
            )
            if not allowed:
                report.denied += 1
                continue
            report.allowed += 1
            await lookup(document.id)
    finally:
        with anyio.CancelScope(shield=True):
            await lookup.invalidate_all()
    report.cached = report.allowed - report.computed
