"""RedisService: the contract's commands on our anyio transport."""

from __future__ import annotations

import builtins
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

import anyio
import hiredis
from pydantic import BaseModel

from .._core._caller import call_user
from .._core._models import dump_json, load_json, load_model
from .._core._service import Service, shielded
from ._cache import CachedFunction, CacheSettings
from ._client import RedisClient
from ._cluster import client_for
from ._commands import Command, Commands
from ._config import RedisConfig
from ._errors import RedisDataError, response_error
from ._keys import Keys
from ._lock import Lock
from ._pipeline import Pipeline
from ._protocol import Arg
from ._pubsub import ModelStream, Subscription
from ._scripts import FIXED_WINDOW, SLIDING_WINDOW
from ._search import (
    Algorithm,
    DistanceMetric,
    create_index_args,
    parse_search,
    search_args,
)
from ._sharded import ShardedSubscription
from ._singleflight import SingleFlight
from ._statistics import PoolStatistics

if TYPE_CHECKING:
    from .._core._portal import Portal
    from ._sync import SyncRedisService

__all__ = ("RedisService",)

M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")


class RedisService(Service[RedisConfig]):
    """Redis on asyncio, trio and (through ``blocking``) sync code.

    Every key-taking method applies ``config.namespace``. Values are ``str`` (decoded
    with ``config.encoding``) unless ``decode_responses`` is off.
    """

    service_name = "redis"

    def __init__(self, config: RedisConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._client: RedisClient = client_for(config, logger=self._logger)  # or cluster/sentinel
        self._keys = Keys(config.namespace)
        self._commands = Commands(self._keys)
        self._flight = SingleFlight(self._client, self._keys)

    def _describe(self) -> str:
        return self._config.describe()

    async def probe(self) -> None:
        """Raise the reason this service is not ready (one PING)."""
        await self.ping()

    async def _open(self, stack: AsyncExitStack) -> None:
        task_group = await self._start_task_group(stack)
        stack.push_async_callback(shielded(self._client.aclose))
        await self._client.open(task_group)

    def __blocking__(self, portal: Portal) -> SyncRedisService:
        from .._core._syncface import sync_face  # noqa: PLC0415 -- only blocking() needs it

        face: SyncRedisService = sync_face(portal, self)  # registered by ._sync
        return face

    def statistics(self) -> PoolStatistics:
        """Connections, replies in flight, commands and pipelined batches sent, reconnects."""
        return self._client.statistics()

    def _gauges(self) -> dict[str, int]:
        stats = self._client.statistics()
        return {
            "anyservices.pool.connections": stats.connections,
            "anyservices.pool.pending_replies": stats.pending_replies,
        }

    async def _run(self, *args: Arg) -> Any:
        self._check_open()
        return await self._client.execute(*args)

    async def _do(self, command: Command[R]) -> R:
        self._check_open()
        return command.parse(await self._client.execute(*command.args))

    # -- generic -------------------------------------------------------------------

    async def ping(self) -> bool:
        """True when the server answers."""
        return await self._do(self._commands.ping())

    async def execute_command(self, *args: Arg) -> Any:
        """Any command we do not wrap, as is (keys are NOT namespaced here)."""
        return await self._run(*args)

    # -- strings -------------------------------------------------------------------

    async def get(self, key: str) -> str | None:
        return await self._do(self._commands.get(key))

    async def set(
        self,
        key: str,
        value: str | bytes | float,
        ex: int | None = None,
        px: int | None = None,
        nx: bool = False,
        xx: bool = False,
    ) -> bool:
        """SET with expiry (seconds ``ex`` or milliseconds ``px``); False when nx/xx refused."""
        return await self._do(self._commands.set(key, value, ex, px, nx, xx))

    async def delete(self, *keys: str) -> int:
        """Delete keys; returns how many existed."""
        return await self._do(self._commands.delete(keys)) if keys else 0

    async def exists(self, *keys: str) -> int:
        """How many of ``keys`` exist (a key named twice counts twice)."""
        return await self._do(self._commands.exists(keys)) if keys else 0

    async def expire(self, key: str, seconds: int) -> bool:
        return await self._do(self._commands.expire(key, seconds))

    async def ttl(self, key: str) -> int:
        """Seconds to live; -1 without expiry, -2 when the key does not exist."""
        return await self._do(self._commands.ttl(key))

    async def incr(self, key: str, amount: int = 1) -> int:
        return await self._do(self._commands.incr(key, amount))

    async def decr(self, key: str, amount: int = 1) -> int:
        return await self._do(self._commands.decr(key, amount))

    # -- hashes --------------------------------------------------------------------

    async def hget(self, name: str, key: str) -> str | None:
        return await self._do(self._commands.hget(name, key))

    async def hset(self, name: str, key: str, value: str | bytes | float) -> int:
        """Set one field; returns 1 when the field is new."""
        return await self._do(self._commands.hset(name, key, value))

    async def hgetall(self, name: str) -> dict[str, str]:
        return await self._do(self._commands.hgetall(name))

    async def hdel(self, name: str, *keys: str) -> int:
        return await self._do(self._commands.hdel(name, keys)) if keys else 0

    # -- lists ---------------------------------------------------------------------

    async def lpush(self, name: str, *values: str | bytes | float) -> int:
        return await self._do(self._commands.push("L", name, values))

    async def rpush(self, name: str, *values: str | bytes | float) -> int:
        return await self._do(self._commands.push("R", name, values))

    async def lpop(self, name: str) -> str | None:
        return await self._do(self._commands.pop("L", name))

    async def rpop(self, name: str) -> str | None:
        return await self._do(self._commands.pop("R", name))

    async def lrange(self, name: str, start: int, end: int) -> list[str]:
        return await self._do(self._commands.lrange(name, start, end))

    # -- sets ----------------------------------------------------------------------

    async def sadd(self, name: str, *values: str | bytes | float) -> int:
        return await self._do(self._commands.sadd(name, values))

    async def smembers(self, name: str) -> builtins.set[str]:
        return await self._do(self._commands.smembers(name))

    async def srem(self, name: str, *values: str | bytes | float) -> int:
        return await self._do(self._commands.srem(name, values))

    # -- sorted sets -----------------------------------------------------------------

    async def zadd(
        self, name: str, mapping: Mapping[str, float], nx: bool = False, xx: bool = False
    ) -> int:
        """Add members with scores; returns how many were new."""
        command = self._commands.zadd(name, mapping, nx, xx)
        return await self._do(command) if mapping else 0

    async def zrange(
        self, name: str, start: int, end: int, desc: bool = False, withscores: bool = False
    ) -> list[str] | list[tuple[str, float]]:
        """Members by rank; with ``withscores``, ``(member, score)`` pairs."""
        return await self._do(self._commands.zrange(name, start, end, desc, withscores))

    async def zrem(self, name: str, *values: str) -> int:
        """Remove members; returns how many were there."""
        return await self._do(self._commands.zrem(name, values)) if values else 0

    # -- pub/sub -------------------------------------------------------------------

    async def publish(self, channel: str, message: str | bytes) -> int:
        """Publish to ``channel`` (namespaced); returns how many subscribers got it."""
        return await self._do(self._commands.publish(channel, message))

    @asynccontextmanager
    async def subscribe(
        self, *channels: str, patterns: Sequence[str] = ()
    ) -> AsyncGenerator[Subscription, None]:
        """Subscribe to ``channels`` (and glob ``patterns``) on a connection of its own.

        ``async with redis.subscribe("news") as sub: async for message in sub: ...``;
        the subscription survives server restarts (it resubscribes).
        """
        self._check_open()
        subscription = Subscription(self._client, self._keys)
        await subscription.subscribe(*channels)
        await subscription.psubscribe(*patterns)
        await subscription._connect()  # noqa: SLF001 -- connected before it is handed out
        try:
            yield subscription
        finally:
            await subscription.aclose()

    async def spublish(self, channel: str, message: str | bytes) -> int:
        """Publish to the sharded ``channel`` (SPUBLISH, namespaced); returns how many
        subscribers got it. On a cluster it reaches only the shard serving its slot."""
        return await self._do(self._commands.spublish(channel, message))

    @asynccontextmanager
    async def ssubscribe(self, *channels: str) -> AsyncGenerator[Subscription, None]:
        """Subscribe to sharded ``channels`` (SSUBSCRIBE), each on the node of its slot.

        Used as ``subscribe``; messages have ``kind="smessage"``. The subscription
        follows its channels when their slots move or their node fails over.
        """
        self._check_open()
        subscription = ShardedSubscription(self._client, self._keys, encoding=self._config.encoding)
        try:
            await subscription.open(*channels)
            yield subscription
        finally:
            await subscription.finish()

    async def publish_model(self, channel: str, model: BaseModel) -> int:
        """Publish ``model`` as JSON to ``channel``; returns how many subscribers got it.

        A model that cannot be encoded raises RedisDataError, a failed publish its
        error: publishing never fails silently (0 means nobody was listening).
        """
        return await self.publish(channel, _dump(model, channel))

    @asynccontextmanager
    async def subscribe_models(
        self, channel: str, model_class: type[M], *, skip_invalid: bool = False
    ) -> AsyncGenerator[ModelStream[M], None]:
        """Subscribe to ``channel`` and iterate its messages as validated ``model_class``.

        ``async with redis.subscribe_models("events", Event) as events: async for
        event in events: ...``. A message that is not a valid ``model_class`` raises
        RedisDataError naming the field, or is skipped (and counted in
        ``events.skipped``) with ``skip_invalid``.
        """
        async with self.subscribe(channel) as subscription:
            yield ModelStream(subscription, model_class, skip_invalid=skip_invalid)

    # -- pipelines and locks -------------------------------------------------------

    @asynccontextmanager
    async def pipeline(self, transaction: bool = True) -> AsyncGenerator[Pipeline, None]:
        """Queue commands and run them in one round trip (MULTI/EXEC if ``transaction``).

        Commands still queued when the block ends normally are executed then; if the
        block raises, they are discarded (and any WATCH released).
        """
        self._check_open()
        pipe = Pipeline(self._client, self._commands, transaction)
        try:
            yield pipe
            if len(pipe):
                await pipe.execute()
        finally:
            with anyio.CancelScope(shield=True):
                await pipe.reset()

    @asynccontextmanager
    async def lock(
        self,
        name: str,
        timeout: float = 10.0,  # noqa: ASYNC109 -- the lock's expiry, not a deadline for this call
        blocking_timeout: float | None = None,
    ) -> AsyncGenerator[Lock, None]:
        """Hold the distributed lock ``name`` for the block (it expires after ``timeout``).

        Tries for up to ``blocking_timeout`` seconds (0: once, None: until it is free)
        and raises RedisLockError when it cannot acquire; the deadline never cuts a try
        short, and an acquire cancelled meanwhile leaves no lock behind. Release is
        token-checked, so an expired lock taken by someone else is never released by
        us (RedisLockError tells the holder it was lost).
        """
        self._check_open()
        held = Lock(self._client, self._keys(f"lock:{name}"), timeout)
        await held.acquire(blocking_timeout)
        try:
            yield held
        except BaseException:
            # The block's own error wins; a lost lock is not reported over it.
            await held.release(missing_ok=True)
            raise
        await held.release()

    # -- vector search (Redis Stack) ------------------------------------------------

    async def create_vector_index(
        self,
        index_name: str,
        prefix: str,
        vector_field: str,
        vector_dims: int,
        distance_metric: DistanceMetric = "COSINE",
        text_fields: Sequence[str] | None = None,
        numeric_fields: Sequence[str] | None = None,
        tag_fields: Sequence[str] | None = None,
        *,
        algorithm: Algorithm = "FLAT",
    ) -> None:
        """Index the hashes under ``prefix`` by their float32 vector in ``vector_field``.

        Store vectors with ``hset(key, vector_field, vector_bytes(vector))``.
        """
        args = create_index_args(
            self._keys, index_name, prefix, vector_field, vector_dims, distance_metric,
            text_fields, numeric_fields, tag_fields, algorithm,
        )  # fmt: skip
        await self._run(*args)

    async def vector_search(
        self,
        index_name: str,
        vector_field: str,
        query_vector: Sequence[float],
        k: int = 10,
        filter_query: str = "*",
    ) -> list[dict[str, Any]]:
        """The ``k`` nearest documents: dicts with ``id``, ``score`` (distance) and fields."""
        self._check_open()
        args = search_args(self._keys, index_name, vector_field, query_vector, k, filter_query)
        reply = await self._client.execute(*args, decode=False)
        return parse_search(reply, self._keys, vector_field)

    async def drop_index(self, index_name: str, delete_documents: bool = False) -> None:
        """Drop the index (and the indexed hashes too with ``delete_documents``)."""
        args: list[Arg] = ["FT.DROPINDEX", self._keys(index_name)]
        if delete_documents:
            args.append("DD")
        await self._run(*args)

    # -- JSON and models -------------------------------------------------------------

    async def get_json(self, key: str) -> dict[str, Any] | list[Any] | None:
        """The JSON value stored at ``key`` (as a string, so plain Redis 7 works), or None.

        Typed as the original; a stored scalar (``"text"``, ``3``) comes back as it is.
        """
        value: dict[str, Any] | list[Any] | None = _json(await self.get(key), key)
        return value

    async def set_json(
        self, key: str, value: Any, ex: int | None = None, nx: bool = False, xx: bool = False
    ) -> bool:
        return await self.set(key, _dump(value, key), ex=ex, nx=nx, xx=xx)

    async def mget_json(self, *keys: str) -> dict[str, Any]:
        """``{key: value}`` for the keys that exist."""
        if not keys:
            return {}
        values = await self._run("MGET", *self._keys.many(keys))
        return {k: _json(v, k) for k, v in zip(keys, values, strict=True) if v is not None}

    async def mset_json(self, mapping: Mapping[str, Any], ex: int | None = None) -> bool:
        """Set many JSON values at once (atomically), each with expiry ``ex`` when given.

        Returns True (as the original did; a failure raises).
        """
        if not mapping:
            return True
        args: list[Arg] = ["MSET"]
        for key, value in mapping.items():
            args += [self._keys(key), _dump(value, key)]
        if ex is None:
            await self._run(*args)
            return True
        expiries: list[list[Arg]] = [["EXPIRE", self._keys(key), ex] for key in mapping]
        await self._transaction([["MULTI"], args, *expiries, ["EXEC"]])
        return True

    async def hget_json(self, name: str, key: str) -> dict[str, Any] | list[Any] | None:
        value: dict[str, Any] | list[Any] | None = _json(
            await self.hget(name, key), f"{name}.{key}"
        )
        return value

    async def hset_json(self, name: str, key: str, value: Any) -> int:
        return await self.hset(name, key, _dump(value, f"{name}.{key}"))

    async def hgetall_json(self, name: str) -> dict[str, Any]:
        return {k: _json(v, f"{name}.{k}") for k, v in (await self.hgetall(name)).items()}

    async def get_model(self, key: str, model_class: type[M]) -> M | None:
        """Validate the JSON at ``key`` as ``model_class``; a bad document names the field."""
        return _model(model_class, await self.get(key), key)

    async def set_model(
        self, key: str, model: BaseModel, ex: int | None = None, nx: bool = False, xx: bool = False
    ) -> bool:
        return await self.set(key, _dump(model, key), ex=ex, nx=nx, xx=xx)

    async def mget_models(self, model_class: type[M], *keys: str) -> dict[str, M]:
        if not keys:
            return {}
        values = await self._run("MGET", *self._keys.many(keys))
        found = ((k, v) for k, v in zip(keys, values, strict=True) if v is not None)
        return {k: load_model(model_class, v, error=RedisDataError, resource=k) for k, v in found}

    async def mset_models(self, mapping: Mapping[str, BaseModel], ex: int | None = None) -> bool:
        """Set many models at once (atomically); returns True."""
        return await self.mset_json(
            {k: m.model_dump(mode="json") for k, m in mapping.items()}, ex=ex
        )

    async def hget_model(self, hash_name: str, field: str, model_class: type[M]) -> M | None:
        return _model(model_class, await self.hget(hash_name, field), f"{hash_name}.{field}")

    async def hset_model(self, hash_name: str, field: str, model: BaseModel) -> int:
        return await self.hset(hash_name, field, _dump(model, f"{hash_name}.{field}"))

    async def _transaction(self, commands: list[list[Arg]]) -> list[Any]:
        """Run MULTI ... EXEC; any error reply raises, inside EXEC's answer too."""
        self._check_open()
        *queued, executed = await self._client.execute_many(commands)
        nested = _items(executed)
        for reply in [*queued, executed, *nested]:
            if isinstance(reply, hiredis.ReplyError):  # a command that failed inside EXEC
                raise response_error(str(reply), "EXEC")
            if isinstance(reply, Exception):
                raise reply
        return nested

    # -- rate limits ---------------------------------------------------------------

    async def check_rate_limit(
        self, key: str, max_requests: int, window_seconds: float, sliding: bool = True
    ) -> tuple[bool, int]:
        """Count one request against ``max_requests`` per ``window_seconds``, atomically.

        Returns ``(allowed, remaining)``. Sliding windows do not record denied
        requests, so a client that keeps retrying regains capacity as the window moves.
        """
        if max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self._check_open()
        script = SLIDING_WINDOW if sliding else FIXED_WINDOW
        window_ms = max(1, round(window_seconds * 1000))
        full_key = self._keys(f"ratelimit:{key}")
        args: list[Arg] = [max_requests, window_ms]
        if sliding:
            args.append(secrets.token_hex(8))  # this request's member: unique, no counter key
        allowed, remaining = await script(self._client, [full_key], args)
        return bool(allowed), int(remaining)

    # -- single flight -------------------------------------------------------------

    @overload
    async def get_or_compute(
        self,
        key: str,
        compute: Callable[[], Awaitable[T]],
        ex: int | None = None,
        serialize_json: bool = True,
        *,
        lock_timeout: float = 30.0,
        wait_timeout: float = 30.0,
    ) -> T: ...

    @overload
    async def get_or_compute(
        self,
        key: str,
        compute: Callable[[], T],
        ex: int | None = None,
        serialize_json: bool = True,
        *,
        lock_timeout: float = 30.0,
        wait_timeout: float = 30.0,
    ) -> T: ...

    async def get_or_compute(
        self,
        key: str,
        compute: Callable[[], Awaitable[T]] | Callable[[], T],
        ex: int | None = None,
        serialize_json: bool = True,
        *,
        lock_timeout: float = 30.0,
        wait_timeout: float = 30.0,
    ) -> T:
        """The cached value at ``key``, or ``compute()``'s, computed once across callers.

        While one caller computes (holding a lock with a random token, expiring after
        ``lock_timeout`` in case it dies), the others look for its value for up to
        ``wait_timeout`` seconds (0: look once), and take the lock over if it expires.
        ``compute`` may be async or plain; on the sync face a plain one runs in the
        caller's own thread. ``serialize_json=False`` stores the value as it is.
        """

        async def produce() -> tuple[T, Arg | None]:
            value = cast("T", await call_user(compute))
            return value, _dump(value, key) if serialize_json else cast("Arg", value)

        def decode(raw: Any) -> T:
            return cast("T", _json(raw, key) if serialize_json else raw)

        return await self._single_flight().get_or_compute(
            key,
            produce,
            decode,
            ex=ex,
            exclusive=True,
            lock_timeout=lock_timeout,
            wait_timeout=wait_timeout,
        )

    def _single_flight(self) -> SingleFlight:
        self._check_open()
        return self._flight

    async def _delete_matching(self, pattern: str) -> int:
        """Delete every key matching the (namespaced) glob ``pattern``; returns how many."""
        self._check_open()
        deleted = 0
        cursor: Any = "0"
        while True:
            cursor, keys = await self._client.execute(
                "SCAN", cursor, "MATCH", self._keys(pattern), "COUNT", 500
            )
            if keys:
                deleted += await self._client.execute("UNLINK", *keys)
            if cursor in {"0", b"0"}:
                return deleted

    # -- the cache decorator ---------------------------------------------------------

    def cache(
        self,
        ttl: int,
        key_prefix: str | None = None,
        namespace: str | None = None,
        skip_cache_if: Callable[[Any], bool] | None = None,
        prevent_thundering_herd: bool = False,
    ) -> Callable[[Callable[P, Awaitable[T]]], CachedFunction[P, T]]:
        """Cache an async function's results in Redis for ``ttl`` seconds.

        Keys are ``cache:[namespace:]<key_prefix or module.qualname>:<hash of args>``
        (under the service's namespace too). ``skip_cache_if(result)`` keeps a result
        out of the cache; ``prevent_thundering_herd`` computes a missing value once
        across all callers. The decorated function has ``.invalidate(*args,
        **kwargs)`` and ``.invalidate_all()``. On the sync face, ``cache`` decorates
        plain functions, which run in the caller's thread.
        """
        settings = CacheSettings(ttl, key_prefix, namespace, skip_cache_if, prevent_thundering_herd)

        def decorate(func: Callable[P, Awaitable[T]]) -> CachedFunction[P, T]:
            return CachedFunction(self, func, settings)

        return decorate


def _items(reply: object) -> list[Any]:
    """EXEC's array of replies (an error reply or None instead: none)."""
    return list(cast("Iterable[Any]", reply)) if isinstance(reply, list) else []


def _dump(value: object, key: str) -> str:
    return dump_json(value, error=RedisDataError, resource=key)


def _json(raw: str | bytes | None, key: str) -> Any:
    """The JSON value in ``raw`` (None stays None); RedisDataError names the key."""
    return None if raw is None else load_json(raw, error=RedisDataError, resource=key)


def _model(model_class: type[M], raw: str | bytes | None, key: str) -> M | None:
    return None if raw is None else load_model(model_class, raw, error=RedisDataError, resource=key)
