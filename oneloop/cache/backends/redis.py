"""Redis cache backend whose async methods are async-native.

``RedisCache`` subclasses Django's ``django.core.cache.backends.redis.RedisCache``:
key making, versioning, key validation, serialization and the parsing of
``LOCATION`` / ``OPTIONS`` are Django's own, so both backends can share one
Redis and read each other's values.

What differs is where the IO happens:

* ``aget()``, ``aset()``, … talk to Redis through ``redis.asyncio`` on the
  running loop. No thread is involved (Django's own ``aget()`` is
  ``sync_to_async(self.get)``: a hop to a worker thread and back per call).
* Sync methods called from a bridge greenlet (sync code run by
  ``oneloop.run_sync``) wait on those same coroutines through ``await_()``,
  so a sync view's ``cache.get()`` lets other requests run meanwhile.
* Sync methods called where no loop runs (WSGI, management commands, worker
  threads) are Django's: the stock sync client, stock speed.
* Sync methods called on a thread whose loop is running, outside a bridge,
  raise ``CacheCalledOnLoop``: they would block every task of the loop.

Async connection pools belong to one event loop. They are created lazily, the
first time a loop uses a cache configuration, shared by every ``RedisCache``
instance with that configuration on that loop (Django makes one instance per
request under ASGI), and closed when the loop shuts down through
``asyncio.run()`` / ``asyncio.Runner`` (or uvicorn, pytest-asyncio, which use
them), or explicitly by ``await oneloop.cache.aclose_pools()``.
"""

# Django's cache API names its expiry argument "timeout" (seconds to keep the
# value), not an IO deadline, so the async-timeout rule does not apply here.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import threading
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import cached_property
from django.utils.module_loading import import_string

from oneloop.bridge import MissingBridge, await_, in_bridge, run_sync

__all__ = [
    "AsyncRedisCacheClient",
    "CacheCalledOnLoop",
    "RedisCache",
    "aclose_pools",
]

#: The ``OPTIONS`` key whose dict overrides options for the async client only.
ASYNC_OPTIONS_KEY = "async_options"

_get_running_loop = asyncio.events._get_running_loop


class CacheCalledOnLoop(MissingBridge):
    """A sync cache method was called on a thread whose event loop is running,
    outside a bridge greenlet. The sync Redis client would block the loop."""


_CALLED_ON_LOOP_MESSAGE = (
    "cache.{name}() was called from async code running on the event loop, "
    "outside a bridge: the sync Redis client would block every other task of "
    "the loop while it waits for Redis. In async code use "
    "`await cache.{aname}(...)`; to call sync code that uses the cache, run it "
    "through `await oneloop.run_sync(fn, ...)`."
)


# --------------------------------------------------------------------------
# Per-loop async clients
# --------------------------------------------------------------------------


class _LoopClients:
    """The ``redis.asyncio`` clients that one event loop uses, per cache
    configuration and server index. Closed when the loop shuts down."""

    __slots__ = ("by_config", "closed", "closer", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.by_config: dict[tuple[Any, ...], dict[int, Any]] = {}
        self.closed = False
        self.closer: AsyncGenerator[None, None] | None = None

    async def aclose(self) -> None:
        """Disconnect every pool of this loop (idempotent)."""
        if self.closed:
            return
        self.closed = True
        clients = [c for per in self.by_config.values() for c in per.values()]
        self.forget_clients()
        for client in clients:
            # One broken connection must not keep the others open.
            with contextlib.suppress(Exception):
                await client.connection_pool.disconnect()

    def forget_clients(self) -> None:
        for per_config in self.by_config.values():
            per_config.clear()
        self.by_config.clear()

    def forget(self) -> None:
        """Drop the pools of a loop that closed without shutting down its async
        generators: nothing can run on it any more, so its sockets are left
        to the garbage collector. Finishes the closer so that no finalizer
        is scheduled on the dead loop."""
        self.closed = True
        self.forget_clients()
        closer, self.closer = self.closer, None
        if closer is not None:
            _step(closer.aclose())


_registry: dict[asyncio.AbstractEventLoop, _LoopClients] = {}
_registry_lock = threading.Lock()


def _step(awaitable: Any) -> None:
    """Run a coroutine that never really suspends, synchronously, to its end."""
    try:
        awaitable.send(None)
    except StopIteration:
        return
    raise RuntimeError("oneloop: the pool closer suspended unexpectedly")


async def _close_at_loop_shutdown(entry: _LoopClients) -> AsyncGenerator[None, None]:
    """An async generator started on the loop and left suspended.

    asyncio has no hook for "this loop is closing", but ``asyncio.run()`` and
    ``asyncio.Runner`` (so uvicorn and pytest-asyncio too) call
    ``loop.shutdown_asyncgens()`` before closing the loop, which closes this
    generator *on the loop*: the ``finally`` awaits the pools' disconnect.
    """
    try:
        yield
    finally:
        if not entry.closed:
            await entry.aclose()
        with _registry_lock:
            if _registry.get(entry.loop) is entry:
                del _registry[entry.loop]


def _loop_clients(loop: asyncio.AbstractEventLoop) -> _LoopClients:
    """The clients of ``loop``, created (and hooked to its shutdown) on first use."""
    entry = _registry.get(loop)
    if entry is not None and not entry.closed:
        return entry
    with _registry_lock:
        dead = [e for lp, e in _registry.items() if lp.is_closed()]
        for other in dead:
            del _registry[other.loop]
        entry = _LoopClients(loop)
        _registry[loop] = entry
    for other in dead:
        other.forget()
    closer = _close_at_loop_shutdown(entry)
    # asend() registers the generator with the running loop (asyncio's
    # "firstiter" hook), then it runs up to its ``yield`` without suspending.
    _step(closer.asend(None))
    entry.closer = closer
    return entry


async def aclose_pools() -> None:
    """Close every async Redis pool that the running loop has opened.

    Call it at shutdown of a loop that is not closed through ``asyncio.run()``
    / ``asyncio.Runner`` (for example an ASGI lifespan ``shutdown`` handler
    of a server that closes its loop by hand). Later cache calls on the loop
    open new pools.
    """
    loop = asyncio.get_running_loop()
    with _registry_lock:
        entry = _registry.pop(loop, None)
    if entry is None:
        return
    await entry.aclose()
    closer, entry.closer = entry.closer, None
    if closer is not None:
        await closer.aclose()


# --------------------------------------------------------------------------
# Option translation: the same OPTIONS as Django's client, async classes
# --------------------------------------------------------------------------


def _async_twin(cls: type, base: type, what: str) -> type:
    """The ``redis.asyncio`` counterpart of a sync redis-py class.

    ``cls`` already async (a subclass of ``base``) is returned as is; a class of
    redis-py's own (``redis.BlockingConnectionPool``, ``redis._parsers._RESP2Parser``)
    maps to its async sibling; anything else needs an explicit async class.
    """
    if isinstance(cls, type) and issubclass(cls, base):
        return cls
    import redis.asyncio
    import redis.asyncio.connection

    name = getattr(cls, "__name__", "")
    module = getattr(cls, "__module__", "") or ""
    candidates: list[Any] = []
    if module.split(".")[0] == "redis":
        candidates = [
            getattr(redis.asyncio, name, None),
            getattr(redis.asyncio.connection, name, None),
        ]
        if name.startswith("_"):
            sibling = import_string(module)
            candidates.append(getattr(sibling, f"_Async{name[1:]}", None))
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, base):
            return candidate
    raise ImproperlyConfigured(
        f"The cache OPTIONS {what} {cls!r} is a sync redis-py class and oneloop "
        f"cannot find its redis.asyncio counterpart. Set OPTIONS"
        f"[{ASYNC_OPTIONS_KEY!r}][{what!r}] to the async class to use in "
        f"aget(), aset(), … (a subclass of {base.__module__}.{base.__name__})."
    )


class AsyncRedisCacheClient:
    """The async twin of Django's ``RedisCacheClient``: same commands, same
    server choice (first server for writes, a random replica for reads), same
    serializer, on ``redis.asyncio`` with pools per event loop.

    ``sync_client`` is the cache's ``RedisCacheClient``; its serializer and its
    ``_get_connection_pool_index()`` are reused so that custom subclasses keep
    working for both APIs.
    """

    def __init__(
        self,
        sync_client: RedisCacheClient,
        servers: list[str],
        pool_class: Any = None,
        parser_class: Any = None,
        serializer: Any = None,
        **options: Any,
    ) -> None:
        import redis.asyncio
        import redis.asyncio.connection
        from redis._parsers.base import AsyncBaseParser

        del serializer  # the sync client's instance is shared, see _serializer
        self._sync = sync_client
        self._serializer = sync_client._serializer
        self._servers = servers
        self._client_class = redis.asyncio.Redis

        if isinstance(pool_class, str):
            pool_class = import_string(pool_class)
        self._pool_class = _async_twin(
            pool_class or redis.asyncio.ConnectionPool,
            redis.asyncio.ConnectionPool,
            "pool_class",
        )
        if isinstance(parser_class, str):
            parser_class = import_string(parser_class)
        parser_class = _async_twin(
            parser_class or redis.asyncio.connection.DefaultParser,
            AsyncBaseParser,
            "parser_class",
        )
        self._pool_options = {"parser_class": parser_class, **options}
        # Instances with equal configuration share their pools on a loop.
        self._config_key = (
            type(self),
            tuple(servers),
            self._pool_class,
            repr(sorted(self._pool_options.items(), key=lambda kv: kv[0])),
        )
        # One immediate retry on a lost connection, unless OPTIONS say
        # otherwise: after a Redis restart every idle pooled connection is
        # dead, and without it each one fails one operation before it
        # reconnects (redis-py's pooled connections retry 0 times by default).
        if "retry" not in options and "retry_on_error" not in options:
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self._pool_options["retry"] = Retry(NoBackoff(), 1)
        # (loop, its clients entry, {server index: client}) of the last loop
        # used, read and replaced as one tuple: threads never see a mix.
        self._last: tuple[Any, _LoopClients | None, dict[int, Any]] = (None, None, {})

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        """The ``redis.asyncio.Redis`` client to use on the running loop.

        ``key`` is unused, as in Django's client, so that a subclass can pick a
        server per key (sharding).
        """
        loop = asyncio.get_running_loop()
        last_loop, entry, clients = self._last
        if last_loop is not loop or entry is None or entry.closed:
            entry = _loop_clients(loop)
            clients = entry.by_config.setdefault(self._config_key, {})
            self._last = (loop, entry, clients)
        index = self._sync._get_connection_pool_index(write)
        client = clients.get(index)
        if client is None:
            pool = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = clients[index] = self._client_class(connection_pool=pool)
        return client

    async def add(self, key: str, value: Any, timeout: int | None) -> bool:
        client = self.get_client(key, write=True)
        value = self._serializer.dumps(value)
        if timeout == 0:
            if ret := bool(await client.set(key, value, nx=True)):
                await client.delete(key)
            return ret
        return bool(await client.set(key, value, ex=timeout, nx=True))

    async def get(self, key: str, default: Any) -> Any:
        client = self.get_client(key)
        value = await client.get(key)
        return default if value is None else self._serializer.loads(value)

    async def set(self, key: str, value: Any, timeout: int | None) -> None:
        client = self.get_client(key, write=True)
        value = self._serializer.dumps(value)
        if timeout == 0:
            await client.delete(key)
        else:
            await client.set(key, value, ex=timeout)

    async def touch(self, key: str, timeout: int | None) -> bool:
        client = self.get_client(key, write=True)
        if timeout is None:
            return bool(await client.persist(key))
        return bool(await client.expire(key, timeout))

    async def delete(self, key: str) -> bool:
        client = self.get_client(key, write=True)
        return bool(await client.delete(key))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        client = self.get_client(None)
        ret = await client.mget(keys)
        loads = self._serializer.loads
        return {k: loads(v) for k, v in zip(keys, ret, strict=True) if v is not None}

    async def has_key(self, key: str) -> bool:
        client = self.get_client(key)
        return bool(await client.exists(key))

    async def incr(self, key: str, delta: int) -> int:
        client = self.get_client(key, write=True)
        if not await client.exists(key):
            raise ValueError(f"Key '{key}' not found.")
        return await client.incr(key, delta)

    async def set_many(self, data: dict[str, Any], timeout: int | None) -> None:
        client = self.get_client(None, write=True)
        pipeline = client.pipeline()
        dumps = self._serializer.dumps
        pipeline.mset({k: dumps(v) for k, v in data.items()})
        if timeout is not None:
            # MSET takes no expiry; Django's client sets it key by key too.
            for key in data:
                pipeline.expire(key, timeout)
        await pipeline.execute()

    async def delete_many(self, keys: list[str]) -> None:
        client = self.get_client(None, write=True)
        await client.delete(*keys)

    async def clear(self) -> bool:
        client = self.get_client(None, write=True)
        return bool(await client.flushdb())


# --------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------


class RedisCache(DjangoRedisCache):
    """Django's ``RedisCache`` with async-native ``a*`` methods.

    ``CACHES["…"]["OPTIONS"]`` are Django's (``pool_class``, ``parser_class``,
    ``serializer``, and redis-py connection options such as ``db`` or
    ``socket_timeout``); sync redis-py classes are mapped to their
    ``redis.asyncio`` counterparts for the async client. The optional
    ``OPTIONS["async_options"]`` dict overrides options for the async client
    only (for example ``{"retry": redis.asyncio.retry.Retry(...)}``).
    """

    _async_class = AsyncRedisCacheClient

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        options = dict(self._options)
        async_overrides = options.pop(ASYNC_OPTIONS_KEY, None) or {}
        if not isinstance(async_overrides, dict):
            raise ImproperlyConfigured(
                f"The cache OPTIONS[{ASYNC_OPTIONS_KEY!r}] must be a dict of "
                f"options for the async Redis client, not {async_overrides!r}."
            )
        # Django's client receives exactly the options it knows.
        self._options = options
        self._async_options = {**options, **async_overrides}

    @cached_property
    def _async_cache(self) -> AsyncRedisCacheClient:
        return self._async_class(self._cache, self._servers, **self._async_options)

    # -- async API: native ---------------------------------------------------

    async def aadd(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._async_cache.add(
            key, value, self.get_backend_timeout(timeout)
        )

    async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        return await self._async_cache.get(key, default)

    async def aset(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        key = self.make_and_validate_key(key, version=version)
        await self._async_cache.set(key, value, self.get_backend_timeout(timeout))

    async def atouch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._async_cache.touch(key, self.get_backend_timeout(timeout))

    async def adelete(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._async_cache.delete(key)

    async def aget_many(self, keys: Iterable[Any], version: Any = None) -> dict:
        key_map = {
            self.make_and_validate_key(key, version=version): key for key in keys
        }
        ret = await self._async_cache.get_many(key_map.keys())
        return {key_map[k]: v for k, v in ret.items()}

    async def ahas_key(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._async_cache.has_key(key)

    async def aincr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        return await self._async_cache.incr(key, delta)

    async def adecr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        return await self.aincr(key, -delta, version=version)

    async def aset_many(
        self, data: dict, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> list:
        if not data:
            return []
        safe_data = {
            self.make_and_validate_key(key, version=version): value
            for key, value in data.items()
        }
        await self._async_cache.set_many(safe_data, self.get_backend_timeout(timeout))
        return []

    async def adelete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        if not keys:
            return
        safe_keys = [self.make_and_validate_key(key, version=version) for key in keys]
        await self._async_cache.delete_many(safe_keys)

    async def aclear(self) -> bool:
        return await self._async_cache.clear()

    async def aget_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: Any = None,
    ) -> Any:
        """See ``get_or_set()``. A callable ``default`` runs in a bridge
        greenlet, so it may use the ORM or other sync code that does IO (stock
        Django calls it directly on the loop); an awaitable it returns is
        awaited."""
        val = await self.aget(key, self._missing_key, version=version)
        if val is self._missing_key:
            if callable(default):
                default = await run_sync(default)
                if inspect.isawaitable(default):
                    default = await default
            await self.aadd(key, default, timeout=timeout, version=version)
            # Read again: another caller may have added a value meanwhile.
            return await self.aget(key, default, version=version)
        return val

    # aincr_version() / adecr_version() / aclose() are Django's: they only call
    # the native methods above.

    # -- sync API: stock without a loop, async-native inside a bridge --------

    def _refuse_on_loop(self, name: str) -> None:
        """Raise ``CacheCalledOnLoop`` when this thread's loop is running (and
        the code is not inside a bridge), as Django's ``async_unsafe`` does
        for the ORM; ``DJANGO_ALLOW_ASYNC_UNSAFE`` lifts it the same way."""
        if _get_running_loop() is not None and not os.environ.get(
            "DJANGO_ALLOW_ASYNC_UNSAFE"
        ):
            raise CacheCalledOnLoop(
                _CALLED_ON_LOOP_MESSAGE.format(name=name, aname="a" + name)
            )

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        if in_bridge():
            return await_(self.aadd(key, value, timeout, version))
        self._refuse_on_loop("add")
        return super().add(key, value, timeout, version)

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        if in_bridge():
            return await_(self.aget(key, default, version))
        self._refuse_on_loop("get")
        return super().get(key, default, version)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        if in_bridge():
            return await_(self.aset(key, value, timeout, version))
        self._refuse_on_loop("set")
        return super().set(key, value, timeout, version)

    def touch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        if in_bridge():
            return await_(self.atouch(key, timeout, version))
        self._refuse_on_loop("touch")
        return super().touch(key, timeout, version)

    def delete(self, key: Any, version: Any = None) -> bool:
        if in_bridge():
            return await_(self.adelete(key, version))
        self._refuse_on_loop("delete")
        return super().delete(key, version)

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict:
        if in_bridge():
            return await_(self.aget_many(keys, version))
        self._refuse_on_loop("get_many")
        return super().get_many(keys, version)

    def has_key(self, key: Any, version: Any = None) -> bool:
        if in_bridge():
            return await_(self.ahas_key(key, version))
        self._refuse_on_loop("has_key")
        return super().has_key(key, version)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        if in_bridge():
            return await_(self.aincr(key, delta, version))
        self._refuse_on_loop("incr")
        return super().incr(key, delta, version)

    def set_many(
        self, data: dict, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> list:
        if in_bridge():
            return await_(self.aset_many(data, timeout, version))
        self._refuse_on_loop("set_many")
        return super().set_many(data, timeout, version)

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        if in_bridge():
            return await_(self.adelete_many(keys, version))
        self._refuse_on_loop("delete_many")
        return super().delete_many(keys, version)

    def clear(self) -> bool:
        if in_bridge():
            return await_(self.aclear())
        self._refuse_on_loop("clear")
        return super().clear()

    # decr(), get_or_set(), incr_version(), decr_version() and ``in`` are
    # Django's: they call the methods above, so they route the same way.
