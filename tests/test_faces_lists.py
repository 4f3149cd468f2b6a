"""Each service's list for the generator names real classes, each with a generated face."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["http", "minio", "mongo", "queue", "redis"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_listed_class_exists_and_has_its_sync_face(package: str) -> None:
    faces = importlib.import_module(f"anyservices.{package}._faces")
    sync = importlib.import_module(f"anyservices.{package}._sync")
    assert faces.FACES
    for module_name, class_name, *_extras in faces.FACES:
        cls = getattr(importlib.import_module(module_name), class_name)
        assert isinstance(cls, type)
        assert hasattr(sync, f"Sync{class_name}")
