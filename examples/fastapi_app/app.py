"""FastAPI with anyservices: services opened in the lifespan, handed to endpoints by Depends.

Run it (from the repository root, with the ``ANYSERVICES_*`` variables of the local servers)::

    uvicorn examples.fastapi_app.app:app                        # asyncio
    hypercorn --worker-class trio examples.fastapi_app.app:app  # trio
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypedDict

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel

from anyservices import MongoConfig, MongoService, RedisConfig, RedisService
from anyservices.mongo import MongoDuplicateKeyError

#: Each client may call ``/hello`` this many times per minute.
HELLO_LIMIT = 5


class User(BaseModel):
    email: str
    name: str


class State(TypedDict):
    """What the lifespan hands to every request (``request.state``)."""

    redis: RedisService
    mongo: MongoService


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncGenerator[State]:
    """Open the services once for the whole process, close them at shutdown."""
    async with (
        RedisService(RedisConfig.from_env()) as redis,
        MongoService(MongoConfig.from_env()) as mongo,
    ):
        await mongo.create_index("users", "email", unique=True)
        yield {"redis": redis, "mongo": mongo}
        # Shutdown: the services are still open here; they close when the block ends.
        await redis.set("lifespan:stopped", "yes", ex=3600)


def get_redis(request: Request) -> RedisService:
    redis: RedisService = request.state.redis
    return redis


def get_mongo(request: Request) -> MongoService:
    mongo: MongoService = request.state.mongo
    return mongo


Redis = Annotated[RedisService, Depends(get_redis)]
Mongo = Annotated[MongoService, Depends(get_mongo)]

app = FastAPI(lifespan=lifespan)


@app.post("/users", status_code=201)
async def create_user(user: User, mongo: Mongo) -> User:
    try:
        await mongo.insert_one("users", user.model_dump())
    except MongoDuplicateKeyError:  # the unique index on email
        raise HTTPException(409, f"{user.email} is taken") from None
    return user


@app.get("/users/{email}")
async def get_user(email: str, redis: Redis, mongo: Mongo) -> User:
    """A user by the indexed ``email``, cached in Redis for a minute."""

    async def load() -> dict[str, Any]:
        found = await mongo.find_one("users", {"email": email}, {"_id": 0})
        if found is None:
            raise HTTPException(404, f"no user {email}")  # nothing is cached
        return found

    return User.model_validate(await redis.get_or_compute(f"user:{email}", load, ex=60))


@app.get("/hello")
async def hello(request: Request, redis: Redis) -> dict[str, int]:
    """Rate limited per client: 429 once the minute's quota is spent."""
    client = request.client.host if request.client else "unknown"
    allowed, remaining = await redis.check_rate_limit(f"hello:{client}", HELLO_LIMIT, 60)
    if not allowed:
        raise HTTPException(429, "too many requests", headers={"Retry-After": "60"})
    return {"remaining": remaining}
