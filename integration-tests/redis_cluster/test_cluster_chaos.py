"""Chaos on a PRIVATE cluster started by these tests: slots moved under load, a master
killed with SIGKILL, CLUSTER FAILOVER. Bounded in time; every number is checked."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from anyservices.devservers._probes import redis_command
from anyservices.redis import (
    RedisConfig,
    RedisConnectionLostError,
    RedisError,
    RedisService,
    hash_tag,
)
from anyservices.redis._cluster import ClusterClient
from anyservices.redis._slots import key_slot, parse_shards
from anyservices.testing import Face, open_face

pytestmark = pytest.mark.timeout(120)

KEYS = [f"counter:{i}" for i in range(48)]
WORKERS = 32


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


ASKED: dict[str, int] = {}  # the tests' own CLUSTER SHARDS calls, per node


def shards(address: str) -> list[Any]:
    ASKED[address] = ASKED.get(address, 0) + 1
    return parse_shards(redis_command(_port(address), "CLUSTER", "SHARDS"))  # type: ignore[arg-type]


def promoted(address: str, slot: int, old_port: int) -> bool:
    """True once a healthy primary other than ``old_port`` serves ``slot``."""
    return any(
        s.primary.port != old_port and any(a <= slot <= b for a, b in s.ranges)
        for s in shards(address)
    )


async def wait_for(check: Callable[[], bool], seconds: float) -> None:
    """Poll ``check`` every 50 ms; fail after ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"still not true after {seconds} s")


def commandstat_calls(nodes: list[str]) -> int:
    """CLUSTER SHARDS and CLUSTER SLOTS calls on ``nodes`` since their RESETSTAT."""
    calls = 0
    for node in nodes:
        stats = redis_command(_port(node), "INFO", "commandstats")
        assert isinstance(stats, bytes)
        for line in stats.decode().splitlines():
            if line.startswith(("cmdstat_cluster|shards:", "cmdstat_cluster|slots:")):
                calls += int(line.split("calls=")[1].split(",")[0])
    return calls - sum(ASKED.get(node, 0) for node in nodes)  # the tests' own polling


def config(nodes: list[str], **extra: Any) -> RedisConfig:
    return RedisConfig(mode="cluster", cluster_nodes=tuple(nodes), **extra)


class Load:
    """WORKERS tasks INCR the keys until stopped; counts what was acknowledged."""

    def __init__(self, redis: RedisService, keys: list[str] = KEYS) -> None:
        self.redis = redis
        self.keys = keys
        self.acked = dict.fromkeys(keys, 0)
        self.maybe = dict.fromkeys(keys, 0)
        self.errors: list[tuple[float, str, RedisError]] = []
        self.stop = anyio.Event()

    async def worker(self, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(1_000_000):  # bounded: stops long before
            if self.stop.is_set():
                return
            key = rng.choice(self.keys)
            try:
                await self.redis.incr(key)
            except RedisConnectionLostError as exc:
                self.maybe[key] += 1
                self.errors.append((anyio.current_time(), key, exc))
            except RedisError as exc:
                self.errors.append((anyio.current_time(), key, exc))
                await anyio.sleep(0.01)
            else:
                self.acked[key] += 1

    async def applied(self) -> dict[str, int]:
        return {key: int(await self.redis.get(key) or 0) for key in self.keys}


async def _reshard(seed: str, source: str, target: str, slots: int) -> None:
    cli = shutil.which("redis-cli") or "redis-cli"
    for attempt in range(40):  # right after a reshard the nodes may not agree yet: wait for it
        try:
            await anyio.run_process(
                [cli, "--cluster", "reshard", seed, "--cluster-from", source, "--cluster-to",
                 target, "--cluster-slots", str(slots), "--cluster-yes", "--cluster-pipeline",
                 "100"],
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            if b"agree about configuration" not in exc.stdout or attempt == 39:
                raise
            await anyio.sleep(0.25)
        else:
            return


async def test_resharding_1000_slots_both_ways_under_load(face: Face, cluster: list[str]) -> None:
    namespace = f"r{random.randrange(10**6)}"
    async with open_face(face, RedisService(config(cluster, namespace=namespace))) as redis:
        before = {s.primary.node_id: s.ranges for s in shards(cluster[0])}
        a, b = sorted(before)[:2]
        first = before[a][0][0]  # redis-cli moves the source's lowest slots first
        names = (f"counter:{i}" for i in range(100_000))
        moving = [k for k in names if first <= key_slot(f"{namespace}:{k}") < first + 1000]
        keys = moving[:24] + KEYS[:24]  # half of them on the slots that move
        await redis.delete(*keys)
        load = Load(redis, keys)
        async with anyio.create_task_group() as group:
            for seed in range(WORKERS):
                group.start_soon(load.worker, seed)
            await anyio.sleep(0.3)
            await _reshard(cluster[0], a, b, 1000)
            await _reshard(cluster[0], b, a, 1000)
            await anyio.sleep(0.3)
            load.stop.set()
        assert load.errors == []
        # The slots that moved were written to (how much depends on the machine's load).
        assert sum(load.acked[k] for k in moving[:24]) > 0
        assert await load.applied() == load.acked  # nothing lost, nothing applied twice
        client = service_of(redis)._client
        assert isinstance(client, ClusterClient)
        assert client.redirects > 0  # the slots did move under the load


async def _one_call(
    redis: RedisService, index: int, kind: int, token: str, tokens: set[str]
) -> Any:
    """One call of worker ``index``; what is wrong with its reply (None: it is its own)."""
    if kind == 0:
        tokens.add(token)
        reply: Any = await redis.set(f"k{index}", token)
        return None if reply is True else ("set", reply)
    if kind == 1:
        reply = await redis.get(f"k{index}")
        return None if reply is None or reply in tokens else ("get", reply)
    if kind == 2:
        reply = await redis.incr(f"n{index}")
        return None if isinstance(reply, int) else ("incr", reply)
    await redis.hset(f"h{index}", "owner", str(index))
    reply = await redis.hgetall(f"h{index}")
    return None if reply == {"owner": str(index)} else ("hgetall", reply)


async def test_random_cancellation_during_a_reshard(cluster: list[str]) -> None:
    """Half the calls are given up at a random moment (0-20 ms) while 1,000 slots move:
    every reply that reaches a caller is its own (its worker's token, counter or hash)."""
    namespace = f"c{random.randrange(10**6)}"
    async with RedisService(config(cluster, namespace=namespace)) as redis:
        before = {s.primary.node_id: s.ranges for s in shards(cluster[0])}
        a, b = sorted(before)[:2]
        wrong: list[Any] = []
        counts = {"replies": 0, "cancelled": 0}
        stop = anyio.Event()

        async def worker(index: int) -> None:
            rng = random.Random(index)
            tokens: set[str] = set()
            for step in range(1_000_000):  # bounded: stops long before
                if stop.is_set():
                    return
                deadline = rng.random() * 0.02 if rng.random() < 0.5 else None
                with anyio.move_on_after(deadline) as scope:
                    problem = await _one_call(
                        redis, index, rng.randrange(4), f"w{index}-{step}", tokens
                    )
                    if problem is not None:
                        wrong.append((index, problem))
                    counts["replies"] += 1
                counts["cancelled"] += scope.cancelled_caught

        async with anyio.create_task_group() as group:
            for index in range(WORKERS):
                group.start_soon(worker, index)
            await anyio.sleep(0.3)
            await _reshard(cluster[0], a, b, 1000)
            await _reshard(cluster[0], b, a, 1000)
            await anyio.sleep(0.3)
            stop.set()
        assert wrong == []
        assert counts["replies"] > 100
        assert counts["cancelled"] > 10  # the cancellations did happen
        client = redis._client
        assert isinstance(client, ClusterClient)
        assert client.redirects > 0  # and the slots did move under them


async def test_cluster_failover_under_load(face: Face, cluster: list[str]) -> None:
    service = RedisService(config(cluster, namespace=f"f{random.randrange(10**6)}"))
    async with open_face(face, service) as redis:
        await redis.delete(*KEYS)
        load = Load(redis)
        shard = next(s for s in shards(cluster[0]) if s.replicas)
        replica = shard.replicas[0]
        async with anyio.create_task_group() as group:
            for seed in range(WORKERS):
                group.start_soon(load.worker, seed)
            await anyio.sleep(0.3)
            assert redis_command(replica.port, "CLUSTER", "FAILOVER") == b"OK"
            await wait_for(
                lambda: any(s.primary.port == replica.port for s in shards(cluster[0])), 10
            )
            await anyio.sleep(1.0)
            load.stop.set()
        assert load.errors == []
        assert await load.applied() == load.acked


async def test_kill_9_of_a_master_under_load(face: Face, fresh_cluster: list[str]) -> None:
    nodes = fresh_cluster
    async with open_face(face, RedisService(config(nodes, cluster_retry_timeout=8.0))) as redis:
        load = Load(redis)
        # A replica that never synced cannot take over.
        await wait_for(lambda: all(s.replicas for s in shards(nodes[0])), 20)
        victim = shards(nodes[0])[0]
        first_slot = victim.ranges[0][0]
        victim_slots = {slot for start, end in victim.ranges for slot in range(start, end + 1)}
        survivors = [n for n in nodes if _port(n) != victim.primary.port]
        info = redis_command(victim.primary.port, "INFO", "server")
        assert isinstance(info, bytes)
        pid = int(info.split(b"process_id:")[1].split(b"\r\n")[0])
        for node in survivors:
            redis_command(_port(node), "CONFIG", "RESETSTAT")
        ASKED.clear()
        killed_at = promoted_at = 0.0
        async with anyio.create_task_group() as group:
            for seed in range(WORKERS):
                group.start_soon(load.worker, seed)
            await anyio.sleep(0.5)
            os.kill(pid, signal.SIGKILL)
            killed_at = anyio.current_time()
            await wait_for(lambda: promoted(survivors[0], first_slot, victim.primary.port), 15)
            promoted_at = anyio.current_time()
            await anyio.sleep(6.0)
            load.stop.set()
        calls = commandstat_calls(survivors)
        applied = await load.applied()
    assert calls <= 10
    for when, key, error in load.errors:  # only the victim's keys, only until promoted
        assert key_slot(key) in victim_slots, (key, error)
        assert killed_at <= when <= promoted_at + 5.0, error
    for key in KEYS:  # acknowledged writes may be lost by the old master, never doubled
        assert applied[key] <= load.acked[key] + load.maybe[key]
        if key_slot(key) not in victim_slots:
            assert applied[key] == load.acked[key]


def service_of(redis: Any) -> RedisService:
    """The service behind a face (the sync face's view wraps it)."""
    face = getattr(redis, "sync_face", None)
    return redis if face is None else face._wrapped  # type: ignore[no-any-return]


_ = hash_tag  # the chaos keys need no tag: each INCR names one key
