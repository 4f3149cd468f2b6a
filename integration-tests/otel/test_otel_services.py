"""A span per operation on every service and face, against the local servers.

Each body runs on asyncio, trio and the sync face: the operations are children of the
test's current span there too (the portal runs each sync call in a copy of the caller's
context).
"""

from __future__ import annotations

import uuid

import anyio
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from anyservices.http import HttpConfig, HttpNotFoundError, HttpService
from anyservices.minio import MinioConfig, MinioNotFoundError, MinioService
from anyservices.mongo import MongoConfig, MongoDuplicateKeyError, MongoService
from anyservices.queue import QueueConfig, QueueService
from anyservices.redis import RedisConfig, RedisResponseError, RedisService
from anyservices.testing import Face, open_face
from otel_support import Recorded, assert_no_value_in, attrs, otel

__all__ = ("otel",)

_DB = "db.client.operation.duration"
_IN_FLIGHT = "anyservices.client.active_operations"


async def test_redis_commands_are_spans_of_the_callers_span(
    face: Face, redis_config: RedisConfig, otel: Recorded
) -> None:
    secret = f"value-{uuid.uuid4().hex}"
    key = f"key-{uuid.uuid4().hex}"
    async with open_face(face, RedisService(redis_config)) as redis:
        with otel.tracer.start_as_current_span("request") as request:
            await redis.set(key, secret)
            assert await redis.get(key) == secret
            with pytest.raises(RedisResponseError):
                await redis.incr(key)  # not an integer
    spans = otel.children(request)
    assert [span.name for span in spans] == ["SET", "GET", "INCRBY"]
    port = redis_config.port
    for span in spans:
        assert span.kind is SpanKind.CLIENT
        assert attrs(span) | {"error.type": None} == {
            "db.system.name": "redis",
            "db.namespace": str(redis_config.db),
            "server.address": redis_config.host,
            "server.port": port,
            "db.operation.name": span.name,
            "error.type": None,
        }
    failed = spans[2]
    assert attrs(failed)["error.type"] == "anyservices.redis.RedisResponseError"
    assert failed.status.status_code is StatusCode.ERROR
    assert_no_value_in(spans, secret, key, redis_config.namespace or key, "not an integer")
    durations = {attrs(p)["db.operation.name"]: p.count for p in otel.points(_DB)}
    assert durations["SET"] >= 1
    assert durations["INCRBY"] >= 1
    assert all(point.value == 0 for point in otel.points(_IN_FLIGHT))


async def test_redis_auto_pipelined_and_pipelined_commands_get_a_span_each(
    face: Face, redis_config: RedisConfig, otel: Recorded
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        with otel.tracer.start_as_current_span("request") as request:
            async with anyio.create_task_group() as tg:  # sent together, in one batch
                for index in range(8):
                    tg.start_soon(redis.set, f"k{index}", "v")
        with otel.tracer.start_as_current_span("batch") as batch:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.set("a", "1").incr("a").get("a")
                assert await pipe.execute() == [True, 2, "2"]
        with otel.tracer.start_as_current_span("transaction") as transaction:
            async with redis.pipeline() as pipe:
                pipe.set("b", "x").incr("b")
                with pytest.raises(RedisResponseError):
                    await pipe.execute()
    assert [span.name for span in otel.children(request)] == ["SET"] * 8
    assert [span.name for span in otel.children(batch)] == ["SET", "INCRBY", "GET"]
    in_transaction = otel.children(transaction)
    assert [span.name for span in in_transaction] == ["MULTI", "SET", "INCRBY", "EXEC"]
    # INCRBY's error is an element of EXEC's reply (it was queued fine): the pipeline
    # raises, while each span only knows its own reply.
    assert all(span.kind is SpanKind.CLIENT for span in in_transaction)


async def test_redis_error_replies_in_a_pipeline_mark_their_own_span(
    face: Face, redis_config: RedisConfig, otel: Recorded
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        with otel.tracer.start_as_current_span("batch") as batch:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.set("a", "x").incr("a").get("a")
                results = await pipe.execute(raise_on_error=False)
    assert isinstance(results[1], RedisResponseError)
    spans = otel.children(batch)
    assert [attrs(span).get("error.type") for span in spans] == [
        None,
        "anyservices.redis.RedisResponseError",
        None,
    ]


async def test_mongo_operations_name_the_collection_never_the_document(
    face: Face, mongo_env: dict[str, str], otel: Recorded
) -> None:
    config = MongoConfig.from_env(mongo_env, database="anyservices_tests")
    collection = f"otel_{uuid.uuid4().hex[:12]}"
    secret = f"secret-{uuid.uuid4().hex}"
    async with open_face(face, MongoService(config)) as mongo:
        with otel.tracer.start_as_current_span("request") as request:
            await mongo.insert_one(collection, {"_id": 1, "email": secret})
            found = await mongo.find_one(collection, {"email": secret})
            assert found is not None
            with pytest.raises(MongoDuplicateKeyError):
                await mongo.insert_one(collection, {"_id": 1, "email": secret})
        await mongo.delete_many(collection, {})
    spans = otel.children(request)
    assert [span.name for span in spans] == [
        f"{op} {collection}" for op in ("insert_one", "find_one", "insert_one")
    ]
    for span in spans:
        assert span.kind is SpanKind.CLIENT
        values = attrs(span)
        assert values["db.system.name"] == "mongodb"
        assert values["db.namespace"] == config.database
        assert values["db.collection.name"] == collection
        assert values["server.address"] == "127.0.0.1"
        assert isinstance(values["server.port"], int)
    assert attrs(spans[2])["error.type"] == "anyservices.mongo.MongoDuplicateKeyError"
    assert_no_value_in(spans, secret, "E11000", "dup key")
    ops = {(attrs(p)["db.operation.name"], attrs(p).get("error.type")) for p in otel.points(_DB)}
    assert ("find_one", None) in ops
    assert ("insert_one", "anyservices.mongo.MongoDuplicateKeyError") in ops


async def test_s3_operations_name_the_bucket_never_the_object(
    face: Face, s3_env: dict[str, str], otel: Recorded
) -> None:
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    minio_config = MinioConfig.from_env(s3_env, default_bucket=bucket, auto_create_bucket=True)
    secret = f"contents-{uuid.uuid4().hex}".encode()
    name = f"private/{uuid.uuid4().hex}.txt"
    async with open_face(face, MinioService(minio_config)) as minio:
        with otel.tracer.start_as_current_span("request") as request:
            await minio.upload_data(name, secret)
            assert await minio.download_data(name) == secret
            with pytest.raises(MinioNotFoundError):
                await minio.stat_object("missing-object")
            await minio.remove_object(name)
    spans = otel.children(request)
    assert [attrs(span)["rpc.method"] for span in spans] == [
        "upload_data",
        "download_data",
        "stat_object",
        "remove_object",
    ]
    for span in spans:
        values = attrs(span)
        assert span.name == f"{values['rpc.method']} {bucket}"
        assert values["aws.s3.bucket"] == bucket
        assert values["rpc.system"] == "aws-api"
        assert values["server.port"] == int(minio_config.endpoint.rpartition(":")[2])
    assert attrs(spans[2])["error.type"] == "anyservices.minio.MinioNotFoundError"
    assert_no_value_in(spans, secret.decode(), name, "missing-object", minio_config.access_key)
    assert otel.points("rpc.client.call.duration")


async def test_http_requests_hold_method_masked_url_and_status(
    face: Face, s3_env: dict[str, str], otel: Recorded
) -> None:
    endpoint = s3_env["ANYSERVICES_MINIO_ENDPOINT"]  # any real HTTP server will do
    plain = HttpService(HttpConfig(base_url=f"http://{endpoint}", raise_for_status=True))
    # S3 refuses the basic auth the credentials become (radosgw: 400; moto: no such bucket,
    # 404): the URL still must not show them.
    with_password = HttpService(HttpConfig(base_url=f"http://user:hunter2@{endpoint}"))
    async with open_face(face, plain) as http, open_face(face, with_password) as refused:
        with otel.tracer.start_as_current_span("request") as request:
            response = await http.get("/", params={"token": "tok-secret", "page": "1"})
            assert response.status_code == 200
            with pytest.raises(HttpNotFoundError):
                await http.get(f"/no-such-bucket-{uuid.uuid4().hex[:8]}/object")
        with otel.tracer.start_as_current_span("refused") as refused_request:
            status = (await refused.get("/private")).status_code
            assert status in {400, 404}
    (bad,) = otel.children(refused_request)
    assert attrs(bad)["url.full"] == f"http://{endpoint}/private"
    assert attrs(bad)["error.type"] == str(status)
    assert_no_value_in([bad], "hunter2", "user:")
    ok, missing = otel.children(request)
    host, _, port = endpoint.rpartition(":")
    assert ok.name == "GET"
    assert ok.kind is SpanKind.CLIENT
    assert attrs(ok) == {
        "http.request.method": "GET",
        "url.full": f"http://{endpoint}/?token=***&page=1",
        "server.address": host,
        "server.port": int(port),
        "http.response.status_code": 200,
    }
    assert attrs(missing)["http.response.status_code"] == 404
    assert attrs(missing)["error.type"] == "404"
    assert missing.status.status_code is StatusCode.ERROR
    assert_no_value_in([ok, missing], "hunter2", "tok-secret")
    points = otel.points("http.client.request.duration")
    assert {attrs(p)["http.response.status_code"] for p in points} == {200, status, 404}


@pytest.mark.faces("asyncio", "trio")  # a cancel scope around a sync-face call cannot cancel it
async def test_a_cancelled_redis_command_ends_its_span_without_an_error(
    face: Face, redis_config: RedisConfig, otel: Recorded
) -> None:
    async with open_face(face, RedisService(redis_config)) as redis:
        with otel.tracer.start_as_current_span("request") as request:
            with anyio.CancelScope() as scope:
                scope.cancel()
                await redis.get("k")
            assert scope.cancelled_caught
            with anyio.CancelScope() as scope:
                scope.cancel()
                async with redis.pipeline(transaction=False) as pipe:
                    pipe.set("a", "1").get("a")
                    await pipe.execute()
            assert scope.cancelled_caught
    spans = otel.children(request)
    assert [span.name for span in spans] == ["GET", "SET", "GET"]
    assert all("error.type" not in attrs(span) for span in spans)
    assert all(point.value == 0 for point in otel.points(_IN_FLIGHT))


async def test_redis_cluster_spans_name_the_node_that_served_them(
    face: Face, redis_cluster_env: dict[str, str], otel: Recorded
) -> None:
    nodes = tuple(redis_cluster_env["ANYSERVICES_REDIS_CLUSTER_NODES"].split(","))
    config = RedisConfig(mode="cluster", cluster_nodes=nodes, namespace=uuid.uuid4().hex[:8])
    async with open_face(face, RedisService(config)) as redis:
        with otel.tracer.start_as_current_span("request") as request:
            for index in range(12):
                await redis.set(f"key-{index}", "v")
    spans = otel.children(request)
    assert [span.name for span in spans] == ["SET"] * 12
    ports = {attrs(span)["server.port"] for span in spans}
    assert len(ports) > 1  # the keys hash to several masters
    assert ports <= {int(node.rpartition(":")[2]) for node in nodes}


async def test_an_enqueue_is_a_producer_span_over_its_redis_command(
    face: Face, redis_config: RedisConfig, otel: Recorded
) -> None:
    config = QueueConfig(name=f"q{uuid.uuid4().hex[:10]}", redis=redis_config)
    secret = f"payload-{uuid.uuid4().hex}"
    async with open_face(face, QueueService(config)) as queue:
        with otel.tracer.start_as_current_span("checkout") as checkout:
            handle = await queue.enqueue("bill", {"card": secret})
    (send,) = otel.children(checkout)
    assert send.name == f"send {config.name}"
    assert send.kind is SpanKind.PRODUCER
    assert attrs(send) == {
        "messaging.system": "anyservices",
        "messaging.destination.name": config.name,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.message.id": handle.id,
        "anyservices.queue.task": "bill",
    }
    script = otel.children(send)  # the enqueue script, as Redis spans under it
    assert script
    assert {span.name for span in script} <= {"EVALSHA", "SCRIPT", "EVAL"}
    assert_no_value_in([send, *script], secret)
    assert otel.points("messaging.client.operation.duration")
    async with RedisService(redis_config) as redis:  # the queue's keys live in the namespace
        keys = await redis.execute_command("KEYS", f"{redis_config.namespace}*")
        if keys:
            await redis.execute_command("UNLINK", *keys)
