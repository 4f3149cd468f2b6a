"""The sync face from plain threads: a plain ``compute`` runs in the caller's thread."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from anyservices import blocking
from anyservices.redis import RedisConfig, RedisService


def test_plain_compute_runs_in_the_callers_thread_once(redis_config: RedisConfig) -> None:
    local = threading.local()
    threads: list[int] = []
    calls = 0
    lock = threading.Lock()

    def compute() -> dict[str, str]:
        nonlocal calls
        with lock:
            calls += 1
            threads.append(threading.get_ident())
        time.sleep(0.2)  # the other callers wait for this value meanwhile
        return {"who": local.name}  # a thread-local of the caller (say, a DB connection)

    def caller(index: int) -> tuple[int, object]:
        local.name = f"caller-{index}"
        return threading.get_ident(), redis.get_or_compute("shared", compute, ex=30)

    results: list[tuple[int, object]] = []
    with blocking(RedisService(redis_config)) as redis, ThreadPoolExecutor(8) as pool:
        results += list(pool.map(caller, range(8)))
        assert redis.get_json("shared") == results[0][1]
    assert calls == 1
    callers = {ident for ident, _ in results}
    assert threads[0] in callers  # computed in one of the callers' own threads
    values = {str(value) for _, value in results}
    assert len(values) == 1
    assert values.pop().startswith("{'who': 'caller-")


def test_an_async_compute_passed_anyway_runs_on_the_portal(redis_config: RedisConfig) -> None:
    async def compute() -> int:
        return 5

    untyped: Any = compute  # the sync face is typed for plain functions
    with blocking(RedisService(redis_config)) as redis:
        assert redis.get_or_compute("async", untyped) == 5
        assert redis.get_or_compute("async", untyped) == 5
        assert redis.get("async") == "5"
