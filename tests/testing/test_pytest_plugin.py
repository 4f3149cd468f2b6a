"""The pytest plugin's own logic, without servers: where the servers are, the configs each
test gets, and the face parametrization, run in pytester sessions of this process."""

from __future__ import annotations

import importlib.metadata
import importlib.util

import pytest

from anyservices import devservers, health, minio, mongo, queue, redis
from anyservices.testing import pytest_plugin
from anyservices.testing.pytest_plugin import Servers

pytest_plugins = ["pytester"]

# The inner sessions run in this process and import these (the config fixtures do): imported
# here first, before pytester snapshots sys.modules, they are shared, not copied and dropped.
_SHARED = (health, minio, mongo, queue, redis)

_FAKE_ENV = {
    "ANYSERVICES_REDIS_URL": "redis://redis.invalid:6390/3",
    "ANYSERVICES_REDIS_STACK_URL": "redis://stack.invalid:6391/0",
    "ANYSERVICES_REDIS_STACK_PASSWORD": "hunter2",
    "ANYSERVICES_MONGO_URL": "mongodb://mongo.invalid:27030/?directConnection=true",
    "ANYSERVICES_MINIO_ENDPOINT": "s3.invalid:9010",
    "ANYSERVICES_MINIO_ACCESS_KEY": "key",
    "ANYSERVICES_MINIO_SECRET_KEY": "hunter2-secret",
}


@pytest.fixture
def fake_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables name hosts that do not exist: nothing here may connect."""
    for key, value in _FAKE_ENV.items():
        monkeypatch.setenv(key, value)


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    names = {entry.name for entry in importlib.metadata.entry_points(group="pytest11")}
    plugin = [] if "anyservices" in names else ["-p", "anyservices.testing.pytest_plugin"]
    pytester.makeini(
        "[pytest]\nfilterwarnings =\n    error\n"
        "    ignore:Module already imported:pytest.PytestAssertRewriteWarning\n"
    )
    return pytester.runpytest_inprocess(*plugin, "-p", "no:cacheprovider", *args)


# -- Servers ---------------------------------------------------------------------------------


def test_configured_variables_are_used_as_they_are() -> None:
    servers = Servers({**_FAKE_ENV, "PATH": "/usr/bin", "anyservices_http_timeout": "3"})
    env = servers.env("redis")
    assert env == {**_FAKE_ENV, "anyservices_http_timeout": "3"}
    assert servers.env("redis") is env  # found once


def test_the_local_servers_are_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    def local(only: list[str]) -> dict[str, str]:
        asked.append(only)
        return {"ANYSERVICES_MONGO_URL": "mongodb://127.0.0.1:27030", "ANYSERVICES_MONGO_X": "1"}

    monkeypatch.setattr(devservers, "env", local)
    env = Servers({"ANYSERVICES_MONGO_X": "mine"}).env("mongo")
    assert env == {
        "ANYSERVICES_MONGO_URL": "mongodb://127.0.0.1:27030",
        "ANYSERVICES_MONGO_X": "mine",
    }
    assert asked == [["mongo"]]


def test_no_server_fails_the_test_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    def nothing(only: list[str]) -> dict[str, str]:
        return {}

    monkeypatch.setattr(devservers, "env", nothing)
    with pytest.raises(pytest.fail.Exception) as failed:
        Servers({}).env("s3")
    assert str(failed.value) == (
        "no s3 server for this test: set ANYSERVICES_MINIO_ENDPOINT, or start the local "
        "servers with `python -m anyservices.devservers start`"
    )
    assert failed.value.pytrace is False


# -- the configs a test gets -----------------------------------------------------------------


def test_each_test_gets_configs_of_its_own(pytester: pytest.Pytester, fake_servers: None) -> None:
    pytester.makepyfile(
        """
        from anyservices.queue import QueueConfig

        seen = []

        def test_configs(
            anyservices_name,
            anyservices_redis_config,
            anyservices_redis_stack_config,
            anyservices_mongo_config,
            anyservices_minio_config,
            anyservices_queue_config,
        ):
            assert anyservices_name.startswith("test-")
            redis = anyservices_redis_config
            assert (redis.host, redis.port, redis.db) == ("redis.invalid", 6390, 3)
            assert redis.namespace == anyservices_name
            stack = anyservices_redis_stack_config
            assert (stack.host, stack.port) == ("stack.invalid", 6391)
            assert stack.namespace == anyservices_name
            assert stack.password.get_secret_value() == "hunter2"
            assert anyservices_mongo_config.database == anyservices_name
            minio = anyservices_minio_config
            assert (minio.endpoint, minio.default_bucket) == ("s3.invalid:9010", anyservices_name)
            assert minio.auto_create_bucket
            assert anyservices_queue_config == QueueConfig(name="test", redis=redis)
            seen.append(anyservices_name)

        def test_another_name(anyservices_name):
            assert anyservices_name not in seen
        """
    )
    _run(pytester).assert_outcomes(passed=2)


# -- faces -----------------------------------------------------------------------------------

_FACE_TESTS = """
import pytest

pytestmark = pytest.mark.anyio


@pytest.mark.anyservices_faces
async def test_all(anyservices_face, anyio_backend_name):
    assert anyio_backend_name == ("trio" if anyservices_face == "trio" else "asyncio")


@pytest.mark.anyservices_faces("trio", "sync")
async def test_some(anyservices_face, anyio_backend_name):
    assert anyservices_face in {"trio", "sync"}


async def test_unmarked(anyservices_face, anyio_backend_name):
    assert anyservices_face == anyio_backend_name


@pytest.mark.anyservices_faces
async def test_marked_without_services(anyio_backend_name):
    pass
"""


def test_the_marker_runs_a_test_once_per_face(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(_FACE_TESTS)
    result = _run(pytester, "-v")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines_random(
        [
            "*::test_all?asyncio? PASSED*",
            "*::test_all?trio? PASSED*",
            "*::test_all?sync? PASSED*",
            "*::test_some?trio? PASSED*",
            "*::test_some?sync? PASSED*",
            "*::test_unmarked?asyncio? PASSED*",
            "*::test_unmarked?trio? PASSED*",
            "*::test_marked_without_services?asyncio? PASSED*",
            "*::test_marked_without_services?trio? PASSED*",
        ]
    )


def test_without_trio_the_default_faces_leave_it_out(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def no_trio(name: str, package: str | None = None) -> object:
        return None if name == "trio" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", no_trio)
    pytester.makepyfile(_FACE_TESTS)
    result = _run(pytester, "-v", "-k", "test_all or test_some")
    result.assert_outcomes(passed=4)  # asserted faces: test_all twice, test_some (explicit) twice
    result.stdout.no_fnmatch_line("*::test_all?trio?*")
    result.stdout.fnmatch_lines(["*::test_some?trio? PASSED*"])


def test_the_option_narrows_the_marked_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(_FACE_TESTS)
    result = _run(pytester, "-v", "--anyservices-face", "sync", "--anyservices-face", "trio")
    result.assert_outcomes(passed=8)
    result.stdout.no_fnmatch_line("*::test_all?asyncio?*")
    result.stdout.fnmatch_lines_random(["*::test_all?sync? PASSED*", "*::test_all?trio? PASSED*"])
    result = _run(pytester, "-v", "--anyservices-face", "asyncio", "-k", "test_some")
    result.assert_outcomes(skipped=1)  # none of its faces is chosen: pytest's empty set


def test_an_unknown_face_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.anyio
        @pytest.mark.anyservices_faces("asyncio", "curio")
        async def test_x(anyservices_face):
            pass
        """
    )
    result = _run(pytester)
    assert result.ret != 0
    result.assert_outcomes(errors=1)
    expected = (
        "anyservices_faces: unknown face(s) ['curio']; choose from ('asyncio', 'trio', 'sync')"
    )
    assert expected in result.stdout.lines
    result.stdout.no_fnmatch_line("*Traceback*")


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.anyservices_faces(*faces): run the test once*"])
    assert pytest_plugin.__all__[0] == "Servers"
