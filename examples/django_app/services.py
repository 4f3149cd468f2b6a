"""This Django process's services: opened once (``ExampleConfig.ready``), shared by all requests.

Every call of every sync face runs on ONE portal thread per backend, so requests never
start an event loop of their own. ``ANYSERVICES_BACKEND=trio`` runs the portal on trio.
"""

from __future__ import annotations

import atexit
import os
from typing import Literal

import anyservices
from anyservices import MongoConfig, MongoService, RedisConfig, RedisService
from anyservices.mongo import SyncMongoService
from anyservices.redis import SyncRedisService


def portal_backend() -> Literal["asyncio", "trio"]:
    return "trio" if os.environ.get("ANYSERVICES_BACKEND") == "trio" else "asyncio"


class Services:
    """The sync faces, opened once; ``close()`` runs at exit (or when a test says so)."""

    redis: SyncRedisService
    mongo: SyncMongoService

    def open(self) -> None:
        backend = portal_backend()
        self.redis = anyservices.blocking(
            RedisService(RedisConfig.from_env()), backend=backend
        ).open()
        self.mongo = anyservices.blocking(
            MongoService(MongoConfig.from_env()), backend=backend
        ).open()
        self.mongo.create_index("users", "email", unique=True)
        atexit.register(self.close)

    def close(self) -> None:
        atexit.unregister(self.close)
        self.mongo.close()
        self.redis.close()


services = Services()
