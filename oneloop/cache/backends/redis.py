"""Django's Redis cache backend with its IO on ``redis.asyncio``.

``RedisCache`` and ``RedisCacheClient`` subclass Django's classes of the same
name, and every cache operation is Django's own code: key making, versioning,
key validation, serialization, server choice and the parsing of ``LOCATION``
/ ``OPTIONS``. Both backends can therefore share one Redis and read each
other's values.

What differs is the redis-py client that code talks to:

* Sync methods inside a bridge greenlet (sync code run by
  ``oneloop.run_sync``, a sync view under oneloop): Django's
  ``RedisCacheClient.get_client()`` returns a ``RedisClientFacade``, a sync
  face on the running loop's ``redis.asyncio`` client whose commands
  ``await_()`` the async ones, so the loop runs other tasks while Redis
  answers.
* ``aget()``, ``aset()``, …: Django's sync methods turned async by
  ``scripts/generate_async_cache.py`` (``_redis_async``), awaiting the same
  ``redis.asyncio`` client. Entering a bridge per call would cost more than
  10 % of a loopback round trip; the generated code is checked against the
  installed Django by the test suite. No thread is involved (Django's own are
  ``sync_to_async(self.get)``: a hop to a worker thread and back per call).
* Sync methods where no loop runs (WSGI, management commands, worker
  threads): Django's own client, stock behaviour and speed.
* Sync methods on a thread whose loop is running, outside a bridge:
  ``CacheCalledOnLoop``, since the sync client would block every task of the
  loop.

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
import functools
import inspect
import os
import sys
import threading
from collections.abc import AsyncGenerator, Callable
from types import CoroutineType
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import (
    RedisCacheClient as DjangoRedisCacheClient,
)
from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import cached_property
from django.utils.module_loading import import_string

from oneloop.bridge import MissingBridge, await_, in_bridge, run_sync
from oneloop.cache.backends._redis_async import AsyncCacheMethods, AsyncClientMethods

__all__ = [
    "CacheCalledOnLoop",
    "RedisCache",
    "RedisCacheClient",
    "RedisClientFacade",
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
    "the loop while it waits for Redis. In async code use {instead}; to call "
    "sync code that uses the cache, run it through "
    "`await oneloop.run_sync(fn, ...)`."
)


def _called_on_loop(name: str) -> CacheCalledOnLoop:
    """The refusal of the sync cache method ``name`` (the name of the
    ``RedisCacheClient`` method that asked for a client, which is the cache
    method's own name for all of Django's)."""
    if hasattr(BaseCache, f"a{name}"):
        instead = f"`await cache.a{name}(...)`"
    else:
        instead = "the cache's async methods (`await cache.aget(...)`, …)"
    return CacheCalledOnLoop(_CALLED_ON_LOOP_MESSAGE.format(name=name, instead=instead))


# --------------------------------------------------------------------------
# Per-loop async clients
# --------------------------------------------------------------------------


class _LoopClients:
    """The ``redis.asyncio`` clients that one event loop uses, per cache
    configuration and server index. Closed when the loop shuts down."""

    __slots__ = ("by_config", "closed", "closer", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.by_config: dict[tuple[Any, ...], dict[int, RedisClientFacade]] = {}
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
                await client.async_client.connection_pool.disconnect()

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


# --------------------------------------------------------------------------
# The facade: what Django's client code calls inside a bridge
# --------------------------------------------------------------------------


class RedisClientFacade:
    """A sync face on a ``redis.asyncio`` client, for Django's client code.

    ``RedisCacheClient.get_client()`` returns one inside a bridge. Every
    method of the async client is there with its sync meaning: a command
    (``get``, ``set``, ``mget``, ``incr``, ``flushdb``, a pipeline's
    ``execute``, …) awaits the async one through ``await_()``; ``pipeline()``
    and a pipeline's queued commands return a facade of the async pipeline.
    Replies, errors, retries and the handling of a cancelled command are
    ``redis.asyncio``'s own. Protocols (``with``, ``async for``) are not
    translated: Django's client uses none.
    """

    def __init__(self, aclient: Any) -> None:
        self.async_client = aclient
        """The ``redis.asyncio`` client (or pipeline) underneath."""

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.async_client, name)
        if not callable(attr):
            return attr
        # Kept: a client's facade lives as long as the client, and Django's
        # code asks it for the same few methods on every operation.
        method = self.__dict__[name] = functools.partial(_call, attr)
        return method


def _call(method: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    result = method(*args, **kwargs)
    if result.__class__ is CoroutineType:  # a command, the usual case
        return await_(result)
    import redis.asyncio

    # Before the awaitable test: a pipeline is awaitable too (``await``
    # initialises a client), and its queued commands return the pipeline.
    if isinstance(result, redis.asyncio.Redis):
        return RedisClientFacade(result)
    if inspect.isawaitable(result):
        return await_(result)
    return result


# --------------------------------------------------------------------------
# Django's client, handing out the facade in a bridge
# --------------------------------------------------------------------------


class RedisCacheClient(AsyncClientMethods, DjangoRedisCacheClient):
    """Django's ``RedisCacheClient``; ``get_client()`` returns a
    ``RedisClientFacade`` over the running loop's ``redis.asyncio`` client
    inside a bridge, and refuses on a running loop outside one. The ``a*()``
    methods (``AsyncClientMethods``) use ``async_client()``.

    The async client takes the sync one's options, with redis-py's sync pool
    and parser classes mapped to their ``redis.asyncio`` counterparts, then
    ``async_options`` on top.
    """

    def __init__(
        self,
        servers: list[str],
        async_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(servers, **options)
        self._async_overrides = dict(async_options or {})
        # (loop, its clients entry, {server index: client}) of the last loop
        # used, read and replaced as one tuple: threads never see a mix.
        self._last: tuple[Any, _LoopClients | None, dict[int, RedisClientFacade]] = (
            None,
            None,
            {},
        )

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        """The redis-py client for one cache operation.

        ``key`` is unused, as in Django's client, so that a subclass can pick
        a server per key (sharding).
        """
        if _get_running_loop() is None:  # plain sync code: Django's, as is
            return super().get_client(key, write=write)
        if in_bridge():
            return self._facade(write)
        if not os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE"):
            # As Django's ``async_unsafe`` refuses the ORM there (and lifted by
            # the same variable). The caller's name is the cache method's.
            raise _called_on_loop(sys._getframe(1).f_code.co_name)
        return super().get_client(key, write=write)

    def async_client(self, key: Any = None, *, write: bool = False) -> Any:
        """The ``redis.asyncio.Redis`` client of the running loop for a write
        (the first server) or a read (a random replica, if any): what the
        ``a*()`` methods use. ``key`` is unused, as in ``get_client()``."""
        return self._facade(write).async_client

    def _facade(self, write: bool) -> RedisClientFacade:
        """The facade over the running loop's client for ``write``."""
        loop = asyncio.get_running_loop()
        last_loop, entry, clients = self._last
        if last_loop is not loop or entry is None or entry.closed:
            entry = _loop_clients(loop)
            clients = entry.by_config.setdefault(self._async_config[2], {})
            self._last = (loop, entry, clients)
        index = self._get_connection_pool_index(write)
        client = clients.get(index)
        if client is None:
            import redis.asyncio

            pool_class, pool_options, _ = self._async_config
            pool = pool_class.from_url(self._servers[index], **pool_options)
            client = clients[index] = RedisClientFacade(
                redis.asyncio.Redis(connection_pool=pool)
            )
        return client

    @cached_property
    def _async_config(self) -> tuple[type, dict[str, Any], tuple[Any, ...]]:
        """(pool class, pool options, the key under which instances with an
        equal configuration share their clients on a loop)."""
        import redis.asyncio
        from redis._parsers.base import AsyncBaseParser

        options = {**self._pool_options, **self._async_overrides}
        pool_class = options.pop("pool_class", self._pool_class)
        if isinstance(pool_class, str):
            pool_class = import_string(pool_class)
        pool_class = _async_twin(pool_class, redis.asyncio.ConnectionPool, "pool_class")
        parser_class = options["parser_class"]
        if isinstance(parser_class, str):
            parser_class = import_string(parser_class)
        options["parser_class"] = _async_twin(
            parser_class, AsyncBaseParser, "parser_class"
        )
        # Instances with an equal configuration share their clients on a loop
        # (the default retry below is a new object per instance).
        key = (
            type(self),
            tuple(self._servers),
            pool_class,
            repr(sorted(options.items(), key=lambda kv: kv[0])),
        )
        # One immediate retry on a lost connection, unless OPTIONS say
        # otherwise: after a Redis restart every idle pooled connection is
        # dead, and without it each one fails one operation before it
        # reconnects (redis-py's pooled connections retry 0 times by default).
        if "retry" not in options and "retry_on_error" not in options:
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            options["retry"] = Retry(NoBackoff(), 1)
        return pool_class, options, key


# --------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------


def _settled(default: Callable[[], Any]) -> Any:
    """``default()``, awaited if it returns an awaitable (an ``async def``)."""
    value = default()
    return await_(value) if inspect.isawaitable(value) else value


class RedisCache(AsyncCacheMethods, DjangoRedisCache):
    """Django's ``RedisCache``: sync methods do their Redis IO on
    ``redis.asyncio`` inside a bridge, ``a*()`` methods are Django's sync
    ones generated as async (``AsyncCacheMethods``).

    ``CACHES["…"]["OPTIONS"]`` are Django's (``pool_class``, ``parser_class``,
    ``serializer``, and redis-py connection options such as ``db`` or
    ``socket_timeout``); sync redis-py classes are mapped to their
    ``redis.asyncio`` counterparts for the async client. The optional
    ``OPTIONS["async_options"]`` dict overrides options for the async client
    only (for example ``{"retry": redis.asyncio.retry.Retry(...)}``).
    """

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
        async_options = self._options.get(ASYNC_OPTIONS_KEY, {})
        if not isinstance(async_options, dict):
            raise ImproperlyConfigured(
                f"The cache OPTIONS[{ASYNC_OPTIONS_KEY!r}] must be a dict of "
                f"options for the async Redis client, not {async_options!r}."
            )

    async def aclose(self, **kwargs: Any) -> None:
        """``close()`` in a bridge greenlet (Django 6.1's hops to a thread)."""
        await run_sync(self.close, **kwargs)

    async def aget_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: Any = None,
    ) -> Any:
        """``get_or_set()`` in a bridge greenlet. A callable ``default`` runs
        there too, so it may use the ORM or other sync code that does IO
        (Django's calls it directly on the loop); an awaitable it returns is
        awaited."""
        if callable(default):
            default = functools.partial(_settled, default)
        return await run_sync(self.get_or_set, key, default, timeout, version)
