"""Test helpers: one async test body on asyncio, trio and the sync face, and a pytest plugin.

``open_face(face, service)`` opens ``service`` on the named face and hands back an
object with the async API (see :mod:`anyservices.testing._harness`). The pytest plugin
(:mod:`anyservices.testing.pytest_plugin`, loaded through the ``pytest11`` entry point)
gives a user's tests services on the configured or local servers, each with a namespace,
database or bucket of its own: see docs/testing.md. This module does not import pytest.
"""

from __future__ import annotations

from .._core._public import mark_public
from ._harness import FACES as FACES
from ._harness import AsyncView as AsyncView
from ._harness import Face as Face
from ._harness import _AsyncCM as _AsyncCM
from ._harness import _AsyncIter as _AsyncIter
from ._harness import backend_of as backend_of
from ._harness import open_face as open_face

__all__ = ("FACES", "AsyncView", "Face", "backend_of", "open_face")

mark_public(__name__, globals(), __all__)
