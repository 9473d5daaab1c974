"""Async pools belong to one event loop; sync calls on a loop are refused;
OPTIONS are Django's, mapped to redis.asyncio classes."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis
import redis.asyncio
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured, SynchronousOnlyOperation
from django.test import override_settings

from oneloop import cache as oneloop_cache
from oneloop.bridge import MissingBridge, run_sync
from oneloop.cache.backends import redis as backend
from tests.servers import unavailable

from .conftest import caches_setting

pytestmark = pytest.mark.redis


def _connected(pool) -> list:
    conns = [*pool._available_connections, *pool._in_use_connections]
    return [c for c in conns if c.is_connected]


def _pool(cache, write: bool = True):
    return cache._cache.async_client(write=write).connection_pool


def test_each_loop_gets_its_own_pool_closed_at_shutdown(cache_settings):
    cache = caches["default"]
    seen = []

    async def use() -> None:
        await cache.aset("loop", 1)
        pool = _pool(cache)
        assert await cache.aget("loop") == 1
        assert _connected(pool)  # a connection is open and idle
        seen.append((asyncio.get_running_loop(), pool))

    asyncio.run(use())
    asyncio.run(use())
    (loop1, pool1), (loop2, pool2) = seen
    assert loop1 is not loop2
    assert pool1 is not pool2
    # asyncio.run() shut the loops down, which closed their pools.
    for loop, pool in seen:
        assert loop not in backend._registry
        assert not _connected(pool)


def test_instances_with_one_configuration_share_a_loops_pool(cache_settings):
    """Under ASGI Django makes a cache instance per request: they share pools."""
    settings_ = caches_setting()["default"]
    location = settings_["LOCATION"]
    params = {k: v for k, v in settings_.items() if k not in {"BACKEND", "LOCATION"}}

    async def two_instances() -> tuple:
        a = backend.RedisCache(location, dict(params))
        b = backend.RedisCache(location, dict(params))
        other = backend.RedisCache(
            location, {**params, "OPTIONS": {"socket_timeout": 3}}
        )
        await a.aset("shared", 1)
        assert await b.aget("shared") == 1
        return _pool(a), _pool(b), _pool(other)

    pool_a, pool_b, pool_other = asyncio.run(two_instances())
    assert pool_a is pool_b
    assert pool_other is not pool_a
    assert pool_other.connection_kwargs["socket_timeout"] == 3


async def test_aclose_pools_closes_and_later_calls_reopen(cache_settings):
    cache = caches["default"]
    await cache.aset("k", 1)
    pool = _pool(cache)
    assert _connected(pool)
    await oneloop_cache.aclose_pools()
    assert not _connected(pool)
    assert asyncio.get_running_loop() not in backend._registry
    assert await cache.aget("k") == 1  # a new pool
    assert _pool(cache) is not pool
    await oneloop_cache.aclose_pools()
    await oneloop_cache.aclose_pools()  # idempotent


def test_loop_closed_without_shutdown_is_dropped(cache_settings):
    """A loop closed by hand (no shutdown_asyncgens) leaves its entry behind;
    the next loop to open pools drops it without touching the dead loop."""
    cache = caches["default"]
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(cache.aset("k", 1))
        pool = _pool_on(loop, cache)
        # Close its connections ourselves so the test leaves no open socket.
        loop.run_until_complete(pool.disconnect())
    finally:
        loop.close()
    assert loop in backend._registry

    async def other_loop() -> None:
        assert await cache.aget("k") == 1

    asyncio.run(other_loop())
    assert loop not in backend._registry


def _pool_on(loop, cache):
    async def get():
        return _pool(cache)

    return loop.run_until_complete(get())


async def test_sync_call_on_the_loop_outside_a_bridge_is_refused(cache_settings):
    cache = caches["default"]
    for call, name in [
        (lambda: cache.get("k"), "get"),
        (lambda: cache.set("k", 1), "set"),
        (lambda: cache.get_or_set("k", 1), "get"),
        (lambda: "k" in cache, "has_key"),
        (lambda: cache.incr_version("k"), "get"),
    ]:
        with pytest.raises(backend.CacheCalledOnLoop) as info:
            call()
        message = str(info.value)
        assert f"cache.{name}() was called from async code" in message
        assert f"await cache.a{name}(...)" in message
        assert "oneloop.run_sync" in message
    assert issubclass(backend.CacheCalledOnLoop, MissingBridge)
    assert issubclass(backend.CacheCalledOnLoop, SynchronousOnlyOperation)
    # The same call through a bridge works.
    assert await run_sync(cache.get_or_set, "k", 5) == 5


class TtlClient(backend.RedisCacheClient):
    """A client subclass with a method of its own, as projects write."""

    def ttl(self, key: str) -> int:
        return self.get_client(key).ttl(key)


async def test_a_client_subclass_method_runs_on_the_facade(cache_settings):
    """Any sync redis-py call made on ``get_client()`` inside a bridge goes
    through the facade to redis.asyncio; outside one it is refused."""
    settings_ = caches_setting()["default"]
    params = {k: v for k, v in settings_.items() if k not in {"BACKEND", "LOCATION"}}
    cache = backend.RedisCache(settings_["LOCATION"], params)
    cache._class = TtlClient
    key = cache.make_and_validate_key("ttl")
    await cache.aset("ttl", 1, timeout=100)
    assert 0 < await run_sync(cache._cache.ttl, key) <= 100
    with pytest.raises(backend.CacheCalledOnLoop) as info:
        cache._cache.ttl(key)
    message = str(info.value)
    assert "cache.ttl() was called from async code" in message
    assert "the cache's async methods" in message


async def test_sync_call_on_the_loop_allowed_like_django(cache_settings, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache = caches["default"]
    cache.set("unsafe", 1)  # the stock, blocking client
    assert cache.get("unsafe") == 1
    assert await cache.aget("unsafe") == 1


def test_sync_calls_in_a_worker_thread_use_the_stock_client(cache_settings):
    """Threads without a loop (sync_to_async workers, WSGI) use Django's client."""
    cache = caches["default"]
    results = []

    def worker() -> None:
        cache.set("thread", 7)
        results.append(cache.get("thread"))

    async def main() -> None:
        await asyncio.to_thread(worker)

    asyncio.run(main())
    assert results == [7]
    assert isinstance(cache._cache._get_connection_pool(True), redis.ConnectionPool)


def test_async_get_or_set_runs_a_callable_default_in_a_bridge(cache_settings):
    cache = caches["default"]
    inside = []

    def default() -> int:
        from oneloop.bridge import in_bridge

        inside.append(in_bridge())
        # Sync cache IO works here: the callable runs in a bridge greenlet.
        cache.set("side", "effect")
        return 99

    async def coro_default() -> int:
        await asyncio.sleep(0)
        return 100

    async def main() -> None:
        assert await cache.aget_or_set("gos", default) == 99
        assert await cache.aget("side") == "effect"
        assert await cache.aget_or_set("gos2", coro_default) == 100

    asyncio.run(main())
    assert inside == [True]


def test_options_map_to_async_classes(raw_redis):
    caches_ = caches_setting(
        OPTIONS={
            "pool_class": "redis.BlockingConnectionPool",
            "parser_class": "redis._parsers.resp2._RESP2Parser",
            "socket_timeout": 0.5,
            "retry_on_timeout": True,
            "async_options": {"max_connections": 7},
        }
    )
    with override_settings(CACHES=caches_):
        cache = caches["default"]
        sync_pool = cache._cache._get_connection_pool(write=True)
        assert type(sync_pool) is redis.BlockingConnectionPool
        assert sync_pool.connection_kwargs["socket_timeout"] == 0.5
        assert "async_options" not in sync_pool.connection_kwargs
        assert "max_connections" not in sync_pool.connection_kwargs

        async def main():
            pool = _pool(cache)
            assert type(pool) is redis.asyncio.BlockingConnectionPool
            kwargs = pool.connection_kwargs
            assert kwargs["socket_timeout"] == 0.5
            assert kwargs["retry_on_timeout"] is True
            assert kwargs["parser_class"].__name__ == "_AsyncRESP2Parser"
            assert pool.max_connections == 7

        asyncio.run(main())


class NotARedisPool:
    pass


def test_unknown_sync_pool_class_asks_for_an_async_one(raw_redis):
    caches_ = caches_setting(
        OPTIONS={"pool_class": "tests.cache.test_redis_pools.NotARedisPool"}
    )
    with override_settings(CACHES=caches_):
        cache = caches["default"]

        async def main():
            await cache.aget("k")

        with pytest.raises(ImproperlyConfigured) as info:
            asyncio.run(main())
        assert "OPTIONS['async_options']['pool_class']" in str(info.value)


def test_async_options_must_be_a_dict(raw_redis):
    with override_settings(CACHES=caches_setting(OPTIONS={"async_options": 3})):
        with pytest.raises(ImproperlyConfigured, match="must be a dict"):
            caches["default"]


def test_pools_of_concurrent_loops_in_threads_stay_apart(cache_settings):
    cache = caches["default"]
    pools: dict[int, object] = {}
    errors: list[BaseException] = []

    def thread_main(n: int) -> None:
        async def main() -> None:
            for i in range(20):
                await cache.aset(f"th{n}-{i}", i)
                assert await cache.aget(f"th{n}-{i}") == i
            pools[n] = _pool(cache)

        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=thread_main, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({id(p) for p in pools.values()}) == 3


def test_public_names_exist():
    assert oneloop_cache.__all__ == ["aclose_pools"]
    for name in backend.__all__:
        assert hasattr(backend, name), name


def test_uvloop_closes_pools_at_shutdown_too(cache_settings):
    try:
        import uvloop
    except ImportError:
        unavailable("uvloop is not installed: pip install django-oneloop[uvicorn]")
    cache = caches["default"]
    seen = []

    async def use() -> None:
        await cache.aset("uv", 1)
        assert await cache.aget("uv") == 1
        seen.append((asyncio.get_running_loop(), _pool(cache)))

    uvloop.run(use())
    [(loop, pool)] = seen
    assert loop not in backend._registry
    assert not _connected(pool)
