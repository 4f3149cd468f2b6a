"""Shared pytest set-up: every async test runs on the selected faces.

A test that takes ``face`` runs once per face (asyncio, trio, sync); any other async
test runs once per event loop (asyncio, trio). ``--face`` narrows the selection, e.g.
``pytest --face trio`` (nox's backend-parametrized sessions use it).
"""

from __future__ import annotations

from typing import Any

import pytest

from anyservices.testing import FACES, Face, backend_of


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--face",
        action="append",
        choices=FACES,
        help="run tests on this face only (repeatable; default: all)",
    )


def _selected(config: pytest.Config) -> tuple[Face, ...]:
    chosen: list[Face] | None = config.getoption("--face")
    return tuple(chosen) if chosen else FACES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    faces: tuple[Face, ...] = _selected(metafunc.config)
    marker = metafunc.definition.get_closest_marker("faces")
    if marker is not None:
        faces = tuple(f for f in faces if f in marker.args)
    if "face" in metafunc.fixturenames:
        metafunc.parametrize("face", faces)
    elif "anyio_backend" in metafunc.fixturenames:
        backends: list[Face] = [f for f in faces if f != "sync"]
        if not backends:
            backends = ["asyncio"]
        metafunc.parametrize("anyio_backend", [_backend_param(f) for f in backends], ids=backends)


def _backend_param(face: Face) -> Any:
    return ("asyncio", {"debug": True}) if backend_of(face) == "asyncio" else "trio"


@pytest.fixture
def anyio_backend(face: Face) -> Any:
    """The event loop of a face-parametrized test."""
    return _backend_param(face)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Plain (non-async) tests run once: in the sync face's session, or when no face is chosen.

    A test whose ``faces`` marker excludes every selected face is deselected, not skipped.
    """
    run_plain = "sync" in _selected(config)
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec: Any = getattr(item, "callspec", None)
        names: dict[str, object] = callspec.params if callspec is not None else {}
        if "face" in getattr(item, "fixturenames", ()) and names.get("face") not in FACES:
            dropped.append(item)  # an empty parameter set: none of its faces is selected
            continue
        is_async = "face" in names or "anyio_backend" in names
        (keep if is_async or run_plain else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
