"""The pytest plugin: services on real servers for your tests, each test in its own space.

Installed with the package (``pytest11`` entry point ``anyservices``), or loaded with
``-p anyservices.testing.pytest_plugin``. Async tests run under anyio's pytest plugin
(``anyio_mode = "auto"`` or ``pytest.mark.anyio``)::

    async def test_cache(anyservices_redis: RedisService) -> None:
        await anyservices_redis.set("k", "v")  # under a namespace of this test's own

    @pytest.mark.anyservices_faces  # once per face: asyncio, trio and the sync face
    async def test_every_face(anyservices_mongo: MongoService) -> None: ...

The servers are the ones the ``ANYSERVICES_*`` variables name, else the local servers of
``python -m anyservices.devservers start`` when they answer; a test that needs a server
that cannot be found fails, saying which variable to set. After each test its Redis
namespace is deleted, its Mongo database dropped and its bucket emptied and removed.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import pytest

from .._core._blocking import SupportsBlocking
from ._harness import FACES, Face, backend_of, open_face

# pytest imports this plugin in every run where anyservices is installed: the services
# (and their drivers) are imported by the fixtures that use them, not here.
if TYPE_CHECKING:
    from ..minio import MinioConfig, MinioService
    from ..mongo import MongoConfig, MongoService
    from ..queue import QueueConfig, QueueService
    from ..redis import RedisConfig, RedisService

__all__ = (
    "Servers",
    "anyservices_face",
    "anyservices_minio",
    "anyservices_minio_config",
    "anyservices_mongo",
    "anyservices_mongo_config",
    "anyservices_name",
    "anyservices_queue",
    "anyservices_queue_config",
    "anyservices_redis",
    "anyservices_redis_config",
    "anyservices_redis_stack",
    "anyservices_redis_stack_config",
    "anyservices_servers",
)

_MARKER = "anyservices_faces"

#: Per local server: the variable that says it is configured, and its devservers name.
_SERVERS = {
    "redis": "ANYSERVICES_REDIS_URL",
    "redis-stack": "ANYSERVICES_REDIS_STACK_URL",
    "mongo": "ANYSERVICES_MONGO_URL",
    "s3": "ANYSERVICES_MINIO_ENDPOINT",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("anyservices")
    group.addoption(
        "--anyservices-face",
        action="append",
        choices=FACES,
        dest="anyservices_face",
        help="run the tests marked anyservices_faces on this face only (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(*faces): run the test once per face (asyncio, trio, sync; default all "
        "three, trio when installed); its anyservices_* services are opened on that face",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the tests that opt in (the marker) by face, with the matching loop.

    Done as a ``parametrize`` mark, which pytest's own hook then applies: a mark (unlike
    a direct ``metafunc.parametrize``) takes precedence over anyio's parametrized
    ``anyio_backend`` fixture instead of colliding with it.
    """
    marker = metafunc.definition.get_closest_marker(_MARKER)
    if marker is None or "anyservices_face" not in metafunc.fixturenames:
        return
    unknown = sorted(set(marker.args) - set(FACES))
    if unknown:
        pytest.fail(f"{_MARKER}: unknown face(s) {unknown}; choose from {FACES}", pytrace=False)
    faces: list[Face] = [face for face in FACES if face in (marker.args or _default_faces())]
    chosen: list[Face] | None = metafunc.config.getoption("anyservices_face")
    if chosen:
        faces = [face for face in faces if face in chosen]
    metafunc.definition.add_marker(
        pytest.mark.parametrize(
            ("anyservices_face", "anyio_backend"),
            [(face, backend_of(face)) for face in faces],
            ids=faces,
        )
    )


def _default_faces() -> tuple[Face, ...]:
    """Every face whose event loop is installed (trio is an optional dependency)."""
    if importlib.util.find_spec("trio") is None:
        return tuple(face for face in FACES if face != "trio")
    return FACES


# -- where the servers are -----------------------------------------------------------------


class Servers:
    """The ``ANYSERVICES_*`` variables of each server a test asked for, found once a session."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._found: dict[str, dict[str, str]] = {}

    def env(self, server: str) -> dict[str, str]:
        """The variables naming ``server`` (``redis``, ``redis-stack``, ``mongo``, ``s3``)."""
        found = self._found.get(server)
        if found is None:
            found = self._found[server] = self._find(server)
        return found

    def _find(self, server: str) -> dict[str, str]:
        variable = _SERVERS[server]
        mine = {k: v for k, v in self._environ.items() if k.upper().startswith("ANYSERVICES_")}
        if variable in mine:
            return mine
        from .. import devservers  # noqa: PLC0415 -- only when nothing is configured

        local = devservers.env([server])
        if variable not in local:
            pytest.fail(
                f"no {server} server for this test: set {variable}, or start the local "
                "servers with `python -m anyservices.devservers start`",
                pytrace=False,
            )
        return {**local, **mine}


@pytest.fixture(scope="session")
def anyservices_servers() -> Servers:
    """Where the servers are: the ``ANYSERVICES_*`` variables, else the local servers."""
    return Servers(os.environ)


@pytest.fixture
def anyservices_name() -> str:
    """A name of this test's own: its Redis namespace, Mongo database and bucket."""
    return f"test-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def anyservices_face(anyio_backend_name: str) -> Face:
    """The face this test's services are opened on: the test's event loop, unless the
    test is marked ``anyservices_faces`` (then each face in turn, sync included)."""
    return cast("Face", anyio_backend_name)


# -- configs -------------------------------------------------------------------------------


@pytest.fixture
def anyservices_redis_config(anyservices_servers: Servers, anyservices_name: str) -> RedisConfig:
    """The Redis of ``ANYSERVICES_REDIS_*``, with this test's namespace."""
    from ..redis import RedisConfig  # noqa: PLC0415 -- on first use (see the imports)

    return RedisConfig.from_env(anyservices_servers.env("redis"), namespace=anyservices_name)


@pytest.fixture
def anyservices_redis_stack_config(
    anyservices_servers: Servers, anyservices_name: str
) -> RedisConfig:
    """The Redis Stack of ``ANYSERVICES_REDIS_STACK_*`` (Search, JSON), with this test's
    namespace."""
    from ..health import _rebased  # noqa: PLC0415 -- on first use (see the imports)
    from ..redis import RedisConfig  # noqa: PLC0415 -- on first use (see the imports)

    env = _rebased(
        anyservices_servers.env("redis-stack"), "ANYSERVICES_REDIS_STACK_", RedisConfig.env_prefix
    )
    return RedisConfig.from_env(env, namespace=anyservices_name)


@pytest.fixture
def anyservices_mongo_config(anyservices_servers: Servers, anyservices_name: str) -> MongoConfig:
    """The MongoDB of ``ANYSERVICES_MONGO_*``, with a database of this test's own."""
    from ..mongo import MongoConfig  # noqa: PLC0415 -- on first use (see the imports)

    return MongoConfig.from_env(anyservices_servers.env("mongo"), database=anyservices_name)


@pytest.fixture
def anyservices_minio_config(anyservices_servers: Servers, anyservices_name: str) -> MinioConfig:
    """The S3 server of ``ANYSERVICES_MINIO_*``, with a bucket of this test's own as the
    default bucket (created when the service opens)."""
    from ..minio import MinioConfig  # noqa: PLC0415 -- on first use (see the imports)

    return MinioConfig.from_env(
        anyservices_servers.env("s3"), default_bucket=anyservices_name, auto_create_bucket=True
    )


@pytest.fixture
def anyservices_queue_config(anyservices_redis_config: RedisConfig) -> QueueConfig:
    """A job queue named ``test`` on the Redis of ``anyservices_redis_config`` (so, under
    this test's namespace)."""
    from ..queue import QueueConfig  # noqa: PLC0415 -- on first use (see the imports)

    return QueueConfig(name="test", redis=anyservices_redis_config)


# -- services ------------------------------------------------------------------------------

S = TypeVar("S", bound=SupportsBlocking[Any])


@asynccontextmanager
async def _opened(
    face: Face, service: S, cleanup: Callable[[], Awaitable[object]]
) -> AsyncGenerator[S, None]:
    """``service`` opened on ``face``; ``cleanup()`` after it is closed, whatever happened."""
    try:
        async with open_face(face, service) as opened:
            yield opened
    finally:
        with anyio.CancelScope(shield=True):
            await cleanup()


def _namespace_of(config: RedisConfig) -> Callable[[], Awaitable[int]]:
    from ._cleanup import drop_redis_namespace  # noqa: PLC0415 -- on first use (see the imports)

    return functools.partial(drop_redis_namespace, config, cast("str", config.namespace))


@pytest.fixture
async def anyservices_redis(
    anyservices_face: Face, anyservices_redis_config: RedisConfig
) -> AsyncIterator[RedisService]:
    """An open RedisService on this test's face and namespace; its keys are deleted after."""
    from ..redis import RedisService  # noqa: PLC0415 -- on first use (see the imports)

    config = anyservices_redis_config
    async with _opened(anyservices_face, RedisService(config), _namespace_of(config)) as redis:
        yield redis


@pytest.fixture
async def anyservices_redis_stack(
    anyservices_face: Face, anyservices_redis_stack_config: RedisConfig
) -> AsyncIterator[RedisService]:
    """An open RedisService on Redis Stack, on this test's face and namespace; its keys are
    deleted after (search indexes are the test's to drop)."""
    from ..redis import RedisService  # noqa: PLC0415 -- on first use (see the imports)

    config = anyservices_redis_stack_config
    async with _opened(anyservices_face, RedisService(config), _namespace_of(config)) as redis:
        yield redis


@pytest.fixture
async def anyservices_mongo(
    anyservices_face: Face, anyservices_mongo_config: MongoConfig
) -> AsyncIterator[MongoService]:
    """An open MongoService on this test's face and database; the database is dropped after."""
    from ..mongo import MongoService  # noqa: PLC0415 -- on first use (see the imports)
    from ._cleanup import drop_mongo_database  # noqa: PLC0415 -- on first use (see the imports)

    config = anyservices_mongo_config
    drop = functools.partial(drop_mongo_database, config)
    async with _opened(anyservices_face, MongoService(config), drop) as mongo:
        yield mongo


@pytest.fixture
async def anyservices_minio(
    anyservices_face: Face, anyservices_minio_config: MinioConfig
) -> AsyncIterator[MinioService]:
    """An open MinioService on this test's face whose default bucket is the test's own;
    the bucket is emptied and removed after."""
    from ..minio import MinioService  # noqa: PLC0415 -- on first use (see the imports)
    from ._cleanup import remove_bucket  # noqa: PLC0415 -- on first use (see the imports)

    config = anyservices_minio_config
    remove = functools.partial(remove_bucket, config, cast("str", config.default_bucket))
    async with _opened(anyservices_face, MinioService(config), remove) as minio:
        yield minio


@pytest.fixture
async def anyservices_queue(
    anyservices_face: Face, anyservices_queue_config: QueueConfig
) -> AsyncIterator[QueueService]:
    """An open QueueService on this test's face and namespace; its keys are deleted after."""
    from ..queue import QueueService  # noqa: PLC0415 -- on first use (see the imports)

    config = anyservices_queue_config
    drop = _namespace_of(config.redis)
    async with _opened(anyservices_face, QueueService(config), drop) as queue:
        yield queue
