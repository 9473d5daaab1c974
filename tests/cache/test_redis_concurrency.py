"""Cache IO is concurrent and stays on the loop thread.

Redis answers in microseconds, so the tests put a proxy in the path that
delays every reply by 50 ms: 50 requests done one after the other would take
2.5 s, done concurrently about one delay.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time

import pytest
from django.core.cache import caches
from django.test import override_settings

from oneloop.bridge import gather, run_sync

from .conftest import STOCK_BACKEND, caches_setting, redis_url

pytestmark = pytest.mark.redis

N = 50


def _proxied(proxy) -> dict:
    return caches_setting(location=redis_url(port=proxy.port))


async def _timed(coro) -> tuple[float, object]:
    start = time.perf_counter()
    result = await coro
    return time.perf_counter() - start, result


async def test_50_concurrent_agets_through_a_slow_path(latency_proxy, raw_redis):
    with override_settings(CACHES=_proxied(latency_proxy)):
        cache = caches["default"]
        await cache.aset_many({f"k{i}": i for i in range(N)})
        # The first round opens the pool's connections (each connection setup
        # costs round trips through the proxy too); the second is pure GETs.
        for round_ in ("cold", "warm"):
            elapsed, values = await _timed(
                asyncio.gather(*(cache.aget(f"k{i}") for i in range(N)))
            )
            assert values == list(range(N))
            if round_ == "warm":
                assert 0.05 <= elapsed < 0.5, f"{N} agets took {elapsed:.3f}s"
        assert latency_proxy.connections >= N // 2


async def test_50_concurrent_sync_gets_in_bridges(latency_proxy, raw_redis):
    """Sync ``cache.get()`` in bridge greenlets, fanned out with
    ``oneloop.gather`` from sync code, is just as concurrent."""
    with override_settings(CACHES=_proxied(latency_proxy)):
        cache = caches["default"]
        await cache.aset_many({f"k{i}": i for i in range(N)})

        def fan_out() -> list:
            return gather(*(functools.partial(cache.get, f"k{i}") for i in range(N)))

        await run_sync(fan_out)  # opens the connections
        elapsed, values = await _timed(run_sync(fan_out))
        assert values == list(range(N))
        assert 0.05 <= elapsed < 0.5, f"{N} bridged gets took {elapsed:.3f}s"


async def test_no_thread_is_used(cache_settings, raw_redis, new_threads):
    cache = caches["default"]
    loop = asyncio.get_running_loop()
    seen_threads = set()

    async def one(i: int) -> None:
        seen_threads.add(threading.get_ident())
        await cache.aset(f"t{i}", i)
        assert await cache.aget(f"t{i}") == i
        assert await cache.aincr(f"t{i}") == i + 1
        assert await cache.aget_many([f"t{i}"]) == {f"t{i}": i + 1}
        await cache.adelete(f"t{i}")

    await asyncio.gather(*(one(i) for i in range(20)))
    await run_sync(lambda: [cache.set("s", 1), cache.get("s"), cache.delete("s")])
    assert not new_threads(), "a thread was started"
    assert seen_threads == {threading.get_ident()}
    # No executor was even created on this loop.
    assert getattr(loop, "_default_executor", None) is None


async def test_stock_backend_hops_threads_for_contrast(raw_redis):
    """Django's own backend runs each aget() in a worker thread: the reason
    this backend exists."""
    with override_settings(CACHES=caches_setting(backend=STOCK_BACKEND)):
        cache = caches["default"]
        await cache.aset("contrast", 1)
        threads_in_get = []
        get = cache._cache.get

        def recording_get(key, default):
            threads_in_get.append(threading.get_ident())
            return get(key, default)

        cache._cache.get = recording_get
        assert await cache.aget("contrast") == 1
        assert threads_in_get and threads_in_get[0] != threading.get_ident()


@pytest.mark.parametrize("api", ["async", "bridge"])
async def test_cancelled_gets_leave_no_crossed_replies(latency_proxy, raw_redis, api):
    """Cancelling tasks mid-reply must not hand a later caller the reply meant
    for a cancelled one (redis-py drops the connection of a cancelled call),
    whether the task awaited ``aget()`` or ran a sync ``get()`` in a bridge."""
    with override_settings(CACHES=_proxied(latency_proxy)):
        cache = caches["default"]
        get = cache.aget if api == "async" else functools.partial(run_sync, cache.get)
        await cache.aset_many({f"c{i}": i for i in range(20)})
        for _ in range(3):
            sent = latency_proxy.sent[b"GET"]
            tasks = [asyncio.create_task(get(f"c{i}")) for i in range(20)]
            # Every request has reached Redis; the replies are in the proxy.
            await latency_proxy.until_sent(b"GET", sent + 20)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            values = await asyncio.gather(*(cache.aget(f"c{i}") for i in range(20)))
            assert values == list(range(20))


async def test_cancelled_bridged_get_raises_cancelled_inside(latency_proxy, raw_redis):
    """A sync ``cache.get()`` in a bridge sees the cancellation at its IO point."""
    with override_settings(CACHES=_proxied(latency_proxy)):
        cache = caches["default"]
        await cache.aset("bridged", 1)
        seen = []

        def view_code() -> None:
            try:
                cache.get("bridged")
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        sent = latency_proxy.sent[b"GET"]
        task = asyncio.create_task(run_sync(view_code))
        await latency_proxy.until_sent(b"GET", sent + 1)  # the reply is held
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen == ["cancelled"]
        assert await cache.aget("bridged") == 1
