"""Stock Django RedisCache vs oneloop's RedisCache, µs per call, one run.

Usage::

    python bench/cache_compare.py [--redis redis://127.0.0.1:6379/15] [-n 3000]
                                  [--uvloop]

Measures, on one Redis, for the same key and value:

* ``get`` with no loop running (both use the stock sync client);
* ``await aget`` (Django: ``sync_to_async(self.get)``, a worker-thread hop
  per call; oneloop: ``redis.asyncio`` on the loop);
* sync ``get`` inside one bridge greenlet (oneloop only: the path a sync view
  under oneloop takes);
* 50 concurrent ``aget``s (wall time for the batch; Django's run one after
  the other on its single thread-sensitive worker).

Each figure is the best of three rounds of ``-n`` calls. Numbers move between
runs and machines; compare them within one run. The loops are bounded.
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

ROUNDS = 3
FAN_OUT = 50


def _configure(redis_url: str) -> tuple[Any, Any]:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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


async def _async_part(stock: Any, ours: Any, n: int) -> dict[str, float]:
    from oneloop.bridge import run_sync

    results: dict[str, float] = {}
    # Warm both paths (thread pool, connection pools) before timing.
    for _ in range(FAN_OUT):
        await stock.aget("bench")
    await asyncio.gather(*(ours.aget("bench") for _ in range(FAN_OUT)))

    results["stock aget"] = await _best_async(lambda: stock.aget("bench"), n)
    results["oneloop aget"] = await _best_async(lambda: ours.aget("bench"), n)

    def bridged_gets() -> float:
        return _best_sync(lambda: ours.get("bench"), n)

    results["oneloop get in a bridge"] = await run_sync(bridged_gets)

    batches = max(1, n // FAN_OUT // 4)
    results[f"stock {FAN_OUT} concurrent agets (ms)"] = await _best_fan_out(
        lambda: stock.aget("bench"), batches
    )
    results[f"oneloop {FAN_OUT} concurrent agets (ms)"] = await _best_fan_out(
        lambda: ours.aget("bench"), batches
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--redis",
        default=os.environ.get("ONELOOP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
    )
    parser.add_argument("-n", type=int, default=3000, help="calls per round")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    n = max(10, min(args.n, 100_000))

    stock, ours = _configure(args.redis)
    stock.set("bench", {"user": 42, "name": "Iñtërnâtiônàl", "roles": ["a", "b"]})
    try:
        results = {
            "stock get (no loop)": _best_sync(lambda: stock.get("bench"), n),
            "oneloop get (no loop)": _best_sync(lambda: ours.get("bench"), n),
        }
        if args.uvloop:
            import uvloop

            run = uvloop.run
        else:
            run = asyncio.run
        results.update(run(_async_part(stock, ours, n)))
    finally:
        stock.delete("bench")

    loop_name = "uvloop" if args.uvloop else "asyncio"
    print(f"cache_compare: {n} calls per round, best of {ROUNDS}, loop {loop_name}")
    for name, value in results.items():
        unit = "" if name.endswith("(ms)") else " µs/call"
        print(f"  {name:<40} {value:9.1f}{unit}")
    ratio = results["stock aget"] / results["oneloop aget"]
    print(f"  stock aget / oneloop aget: {ratio:.2f}x")


if __name__ == "__main__":
    main()
