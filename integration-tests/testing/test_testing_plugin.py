"""The pytest plugin for our users, run as they run it: a test file of theirs, in a pytest
session of its own (``pytester``, in this process so that coverage sees the plugin),
against the real local servers, on each face.

The user's tests write down the names they were given; this side then checks that the
plugin removed everything (keys, database, bucket) after each of them.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import anyio
import pytest
from pydantic import SecretStr

from anyservices import health, queue
from anyservices.minio import MinioConfig, MinioService
from anyservices.mongo import MongoConfig, MongoService
from anyservices.redis import RedisConfig, RedisService
from anyservices.testing import Face, _cleanup, pytest_plugin

pytest_plugins = ["pytester"]

# The inner sessions run in this process (so that coverage sees the plugin). Everything
# they import is imported above, before pytester snapshots sys.modules: they share these
# modules instead of importing copies that pytester drops when they end.
_SHARED = (health, queue, _cleanup, pytest_plugin)

_USER_TESTS = """
import json
from pathlib import Path

import pytest

from anyservices.minio import MinioService
from anyservices.mongo import MongoService
from anyservices.queue import QueueService
from anyservices.redis import RedisConfig, RedisService
from anyservices.testing import open_face

pytestmark = [pytest.mark.anyio, pytest.mark.anyservices_faces]


def record(face, **names):
    with Path("names.jsonl").open("a") as out:
        out.write(json.dumps({"face": face, **names}) + "\\n")


async def test_redis(anyservices_redis: RedisService, anyservices_face, anyservices_name):
    await anyservices_redis.set("k", anyservices_face)
    assert await anyservices_redis.get("k") == anyservices_face
    record(anyservices_face, redis=anyservices_name)


async def test_another_test_sees_none_of_those_keys(anyservices_redis: RedisService):
    assert await anyservices_redis.get("k") is None


async def test_redis_stack(anyservices_redis_stack, anyservices_face, anyservices_name):
    await anyservices_redis_stack.set_json("doc", {"face": anyservices_face})
    assert await anyservices_redis_stack.get_json("doc") == {"face": anyservices_face}
    record(anyservices_face, redis_stack=anyservices_name)


async def test_mongo(anyservices_mongo: MongoService, anyservices_face, anyservices_name):
    await anyservices_mongo.insert_one("things", {"face": anyservices_face})
    assert await anyservices_mongo.count_documents("things", {}) == 1
    record(anyservices_face, mongo=anyservices_name)


async def test_minio(anyservices_minio: MinioService, anyservices_face, anyservices_name):
    await anyservices_minio.upload_data("a/b.txt", anyservices_face.encode())
    assert await anyservices_minio.download_data("a/b.txt") == anyservices_face.encode()
    assert await anyservices_minio.list_objects() == ["a/b.txt"]
    record(anyservices_face, minio=anyservices_name)


async def test_queue(anyservices_queue: QueueService, anyservices_face, anyservices_name):
    handle = await anyservices_queue.enqueue("nobody.runs.this", {"x": 1})
    info = await handle.info()
    assert info.state.value == "queued"
    record(anyservices_face, queue=anyservices_name)


@pytest.mark.anyservices_faces("sync")
async def test_the_sync_face_is_the_sync_face(anyservices_redis, anyservices_face):
    assert anyservices_face == "sync"
    assert type(anyservices_redis).__name__ == "AsyncView"


async def test_open_face_on_a_config(anyservices_face, anyservices_redis_config: RedisConfig):
    # docs/testing.md's example of the harness
    async with open_face(anyservices_face, RedisService(anyservices_redis_config)) as redis:
        assert await redis.get("missing") is None


async def test_the_config_alone(anyservices_redis_config: RedisConfig, anyservices_name):
    assert anyservices_redis_config.namespace == anyservices_name
"""

_DEFAULT_FACE_TESTS = """
import pytest

pytestmark = pytest.mark.anyio


async def test_default_face_is_the_loop(anyservices_redis, anyservices_face, anyio_backend_name):
    assert anyservices_face == anyio_backend_name
    assert await anyservices_redis.ping()
"""


def _plugin_args() -> list[str]:
    """``-p`` the plugin unless its entry point is installed (loading it twice fails)."""
    names = {entry.name for entry in importlib.metadata.entry_points(group="pytest11")}
    return [] if "anyservices" in names else ["-p", pytest_plugin.__name__]


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # The plugin was imported before the inner session (see the imports): it cannot be
    # assert-rewritten there, which pytest warns about. A user's session imports it first.
    pytester.makeini(
        "[pytest]\nfilterwarnings =\n    error\n"
        "    ignore:Module already imported:pytest.PytestAssertRewriteWarning\n"
    )
    return pytester.runpytest_inprocess(
        *_plugin_args(), "-p", "no:cacheprovider", "-p", "no:randomly", *args
    )


async def _left_over(
    redis_env: dict[str, str],
    stack_env: dict[str, str],
    mongo_env: dict[str, str],
    s3_env: dict[str, str],
    names: list[dict[str, str]],
) -> list[str]:
    """What is still there of the names the user's tests were given."""
    left: list[str] = []
    redis_url = SecretStr(redis_env["ANYSERVICES_REDIS_URL"])
    stack_url = SecretStr(stack_env["ANYSERVICES_REDIS_STACK_URL"])
    async with (
        RedisService(RedisConfig(url=redis_url)) as redis,
        RedisService(RedisConfig(url=stack_url)) as stack,
        MongoService(MongoConfig.from_env(mongo_env)) as mongo,
        MinioService(MinioConfig.from_env(s3_env)) as minio,
    ):
        databases = await mongo._run(mongo._mongo_client.list_database_names, "listDatabases", None)
        for entry in names:
            for kind, name in entry.items():
                if kind in {"redis", "queue"}:
                    keys = await redis.execute_command("KEYS", f"{name}:*")
                elif kind == "redis_stack":
                    keys = await stack.execute_command("KEYS", f"{name}:*")
                elif kind == "mongo":
                    keys = [name] if name in databases else []
                elif kind == "minio":
                    keys = [name] if await minio.bucket_exists(name) else []
                else:
                    continue
                left += [f"{kind}: {key!r}" for key in keys]
    return left


def test_a_user_s_tests_get_their_own_services_on_each_face(
    pytester: pytest.Pytester,
    face: Face,
    redis_env: dict[str, str],
    redis_stack_env: dict[str, str],
    mongo_env: dict[str, str],
    s3_env: dict[str, str],
) -> None:
    pytester.makepyfile(test_user=_USER_TESTS)
    result = _run(pytester, "--anyservices-face", face, "-v")
    # Seven tests on this face, the sync-only one (an empty parameter set elsewhere: skipped),
    # and the config test, which opens no service: on each of anyio's loops.
    sync_only = 1 if face == "sync" else 0
    result.assert_outcomes(passed=7 + sync_only + 2, skipped=1 - sync_only)
    result.stdout.fnmatch_lines([f"*test_redis?{face}? PASSED*"])
    names = [
        json.loads(line) for line in Path(pytester.path / "names.jsonl").read_text().splitlines()
    ]
    assert {entry["face"] for entry in names} == {face}
    given = [name for entry in names for kind, name in entry.items() if kind != "face"]
    assert len(given) == 5
    assert len(set(given)) == 5  # one name per test
    left = anyio.run(_left_over, redis_env, redis_stack_env, mongo_env, s3_env, names)
    assert left == []


def test_every_face_by_default_and_the_loop_s_face_without_the_marker(
    pytester: pytest.Pytester, redis_env: dict[str, str]
) -> None:
    pytester.makepyfile(test_user=_USER_TESTS, test_default=_DEFAULT_FACE_TESTS)
    result = _run(pytester, "-v", "-k", "test_redis and not stack or default")
    result.assert_outcomes(passed=5)  # test_redis on three faces, the default test on two loops
    result.stdout.fnmatch_lines_random(
        [
            "*test_redis?asyncio? PASSED*",
            "*test_redis?trio? PASSED*",
            "*test_redis?sync? PASSED*",
            "*test_default_face_is_the_loop?asyncio? PASSED*",
            "*test_default_face_is_the_loop?trio? PASSED*",
        ]
    )


_FAILING_TEST = """
from pathlib import Path

import pytest


@pytest.mark.anyio
@pytest.mark.anyservices_faces("sync")
async def test_fails(anyservices_redis, anyservices_name):
    Path("name.txt").write_text(anyservices_name)
    await anyservices_redis.set("left", "behind?")
    raise AssertionError("the user's test fails")
"""


def test_a_failing_test_is_cleaned_up_too(
    pytester: pytest.Pytester, redis_env: dict[str, str]
) -> None:
    pytester.makepyfile(test_failing=_FAILING_TEST)
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the user's test fails*"])
    namespace = (pytester.path / "name.txt").read_text()

    async def keys() -> object:
        url = SecretStr(redis_env["ANYSERVICES_REDIS_URL"])
        async with RedisService(RedisConfig(url=url)) as redis:
            return await redis.execute_command("KEYS", f"{namespace}:*")

    assert anyio.run(keys) == []
