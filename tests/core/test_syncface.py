"""The sync faces' base class and the registry that ``__blocking__`` reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import pytest

from anyservices import blocking
from anyservices._core._syncface import _FACES, SyncFace, register_face, sync_face, unwrap
from anyservices.http import HttpService, SyncHttpService
from anyservices.minio import MinioService, SyncMinioService
from anyservices.mongo import MongoService, SyncMongoService
from anyservices.redis import RedisService, SyncRedisService

from ._toy import ToyConfig, ToyService

if TYPE_CHECKING:
    from anyservices._core._portal import Portal


def test_each_service_registers_its_sync_face() -> None:
    faces = {
        RedisService: SyncRedisService,
        MongoService: SyncMongoService,
        MinioService: SyncMinioService,
        HttpService: SyncHttpService,
    }
    for service_class, face_class in faces.items():
        assert _FACES[service_class] is face_class


def test_sync_face_serves_subclasses_and_refuses_unknown_classes() -> None:
    class Base: ...

    class Child(Base): ...

    class BaseFace(SyncFace[Base]): ...

    register_face(Base, BaseFace)
    try:
        portal = cast("Portal", object())
        child = Child()
        face = sync_face(portal, child)
        assert type(face) is BaseFace
        assert face._wrapped is child
        with pytest.raises(TypeError, match="no sync face is registered for int"):
            sync_face(portal, 3)
    finally:
        del _FACES[Base]


def test_a_face_shows_what_it_wraps_closes_once_and_unwraps() -> None:
    service = ToyService(ToyConfig())
    face = blocking(service).open()
    try:
        assert repr(face) == f"<sync face of {service!r} on asyncio>"
        assert face.portal.backend == "asyncio"
        assert unwrap(face) is service
        assert unwrap("plain") == "plain"
    finally:
        face.close()
    assert service.events == ["open", "closed"]
    face.close()  # closed already: nothing more happens
    assert service.events == ["open", "closed"]
