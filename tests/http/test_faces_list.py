"""The generator's list of HTTP classes names real classes, each with a generated face."""

from __future__ import annotations

import importlib

from anyservices.http import _faces, _sync


def test_every_listed_class_exists_and_has_its_sync_face() -> None:
    assert _faces.FACES
    for module_name, class_name in _faces.FACES:
        cls = getattr(importlib.import_module(module_name), class_name)
        assert isinstance(cls, type)
        assert hasattr(_sync, f"Sync{class_name}")
