"""Stock Django RedisCache vs oneloop's RedisCache, µs per call, one run.

Usage::

    python bench/cache_compare.py [--redis redis://127.0.0.1:6379/15] [-n 3000]
                                  [--loops asyncio,uvloop] [--no-save]

Measures, on one Redis, for the same key and value:

* ``get`` with no loop running (both use the stock sync client);
* ``await aget`` (Django: ``sync_to_async(self.get)``, a worker-thread hop
  per call; oneloop: ``redis.asyncio`` on the loop);
* sync ``get`` inside one bridge greenlet (oneloop only: the path a sync view
  under oneloop takes);
* 50 concurrent ``aget``s (wall time for the batch; Django's run one after
  the other on its single thread-sensitive worker);
* redis-py's own ``GET`` of the same key, sync client and ``redis.asyncio``,
  so that each backend's layer over its client can be told apart.

The async figures are taken on each loop of ``--loops`` in turn. Each figure
is the best of three rounds of ``-n`` calls. The results go to
``bench/results/cache-<date>.json`` and the table of docs/cache.md (see
``bench.publish``). Numbers move between runs and machines; compare them within
one run. The loops are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ROUNDS = 3
FAN_OUT = 50
KEY = "bench"


def _configure(redis_url: str) -> tuple[Any, Any]:
    import django
    from django.conf import settings

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings.configure(
        SECRET_KEY="bench",
        INSTALLED_APPS=[],
        CACHES={
            "stock": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
                "KEY_PREFIX": prefix,
            },
            "oneloop": {
                "BACKEND": "oneloop.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
                "KEY_PREFIX": prefix,
            },
        },
    )
    django.setup()
    from django.core.cache import caches

    return caches["stock"], caches["oneloop"]


def _best_sync(fn: Callable[[], Any], n: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


async def _best_async(make: Callable[[], Awaitable[Any]], n: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            await make()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


async def _best_fan_out(make: Callable[[], Awaitable[Any]], batches: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(batches):
            await asyncio.gather(*(make() for _ in range(FAN_OUT)))
        best = min(best, (time.perf_counter() - start) / batches)
    return best * 1e3


async def _async_part(
    stock: Any, ours: Any, n: int, redis_url: str, raw_key: str
) -> dict[str, float]:
    import redis.asyncio

    from oneloop.bridge import run_sync

    results: dict[str, float] = {}
    # Warm both paths (thread pool, connection pools) before timing.
    for _ in range(FAN_OUT):
        await stock.aget(KEY)
    await asyncio.gather(*(ours.aget(KEY) for _ in range(FAN_OUT)))

    results["stock_aget_us"] = await _best_async(lambda: stock.aget(KEY), n)
    results["oneloop_aget_us"] = await _best_async(lambda: ours.aget(KEY), n)

    def bridged_gets() -> float:
        return _best_sync(lambda: ours.get(KEY), n)

    results["oneloop_bridge_get_us"] = await run_sync(bridged_gets)

    batches = max(1, n // FAN_OUT // 4)
    results["stock_fan_out_ms"] = await _best_fan_out(lambda: stock.aget(KEY), batches)
    results["oneloop_fan_out_ms"] = await _best_fan_out(lambda: ours.aget(KEY), batches)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await client.get(raw_key)
        results["redis_async_get_us"] = await _best_async(
            lambda: client.get(raw_key), n
        )
    finally:
        await client.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--redis",
        default=os.environ.get("ONELOOP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
    )
    parser.add_argument("-n", type=int, default=3000, help="calls per round")
    parser.add_argument(
        "--loops", default="asyncio,uvloop", help="event loops, in turn"
    )
    parser.add_argument("--uvloop", action="store_true", help="same as --loops uvloop")
    parser.add_argument(
        "--no-save", action="store_true", help="print only: no results file, no page"
    )
    args = parser.parse_args()
    n = max(10, min(args.n, 100_000))
    loops = ["uvloop"] if args.uvloop else args.loops.split(",")
    if set(loops) - {"asyncio", "uvloop"}:
        parser.error("--loops takes asyncio and/or uvloop")

    import redis

    from bench import publish

    started = publish.begin()
    stock, ours = _configure(args.redis)
    stock.set(KEY, {"user": 42, "name": "Iñtërnâtiônàl", "roles": ["a", "b"]})
    raw_key = stock.make_and_validate_key(KEY)
    raw = redis.Redis.from_url(args.redis)
    try:
        no_loop = {
            "stock_get_us": _best_sync(lambda: stock.get(KEY), n),
            "oneloop_get_us": _best_sync(lambda: ours.get(KEY), n),
            "redis_sync_get_us": _best_sync(lambda: raw.get(raw_key), n),
        }
        by_loop: dict[str, dict[str, float]] = {}
        for loop in loops:
            if loop == "uvloop":
                import uvloop

                run = uvloop.run
            else:
                run = asyncio.run
            by_loop[loop] = run(_async_part(stock, ours, n, args.redis, raw_key))
        server_version = raw.info("server").get("redis_version", "")
    finally:
        stock.delete(KEY)
        raw.close()

    print(f"cache_compare: {n} calls per round, best of {ROUNDS}")
    for name, value in no_loop.items():
        print(f"  {'no loop':8} {name:<24} {value:9.1f}")
    for loop, figures in by_loop.items():
        for name, value in figures.items():
            print(f"  {loop:8} {name:<24} {value:9.1f}")
        ratio = figures["stock_aget_us"] / figures["oneloop_aget_us"]
        print(f"  {loop:8} stock aget / oneloop aget: {ratio:.2f}x")
    if args.no_save:
        return
    publish.publish(
        "cache",
        {
            "params": {
                "calls": n,
                "rounds": ROUNDS,
                "fan_out": FAN_OUT,
                "loops": loops,
                "server_version": f"Redis {server_version}",
            },
            "no_loop": no_loop,
            "loops": by_loop,
        },
        started,
    )


if __name__ == "__main__":
    main()
