"""Fixtures for the Redis cache tests.

Every test run uses its own key prefix, so runs that share the Redis database
(``settings.REDIS_URL``) never see each other's keys, and cleans up only its
own keys (``SCAN`` by prefix, never ``FLUSHDB``). ``clear()`` empties a whole
database, so its tests use a second database, ``ONELOOP_TEST_REDIS_CLEAR_DB``
(default 14).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from oneloop.bridge import await_, run_sync

ONELOOP_BACKEND = "oneloop.cache.backends.redis.RedisCache"
STOCK_BACKEND = "django.core.cache.backends.redis.RedisCache"

RUN_PREFIX = f"oneloop-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def redis_url(db: int | None = None, port: int | None = None) -> str:
    """``settings.REDIS_URL`` with another database number or port."""
    parts = urlsplit(settings.REDIS_URL)
    netloc = parts.netloc
    if port is not None:
        netloc = f"{parts.hostname or '127.0.0.1'}:{port}"
    path = parts.path if db is None else f"/{db}"
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


CLEAR_DB = int(os.environ.get("ONELOOP_TEST_REDIS_CLEAR_DB", "14"))


def custom_key_func(key: str, key_prefix: str, version: int) -> str:
    """A key function of the kind Django's own cache tests use."""
    return "CUSTOM-" + "-".join([key_prefix, str(version), key])


def caches_setting(
    backend: str = ONELOOP_BACKEND, location: str | None = None, **params: Any
) -> dict[str, dict[str, Any]]:
    """The aliases Django's cache tests use, on this run's key prefix."""
    location = location or settings.REDIS_URL
    base = {"BACKEND": backend, "LOCATION": location, "KEY_PREFIX": RUN_PREFIX}
    aliases: dict[str, dict[str, Any]] = {
        "default": {},
        "prefix": {"KEY_PREFIX": f"{RUN_PREFIX}-other"},
        "v2": {"VERSION": 2},
        "custom_key": {"KEY_FUNCTION": custom_key_func},
        "custom_key2": {"KEY_FUNCTION": "tests.cache.conftest.custom_key_func"},
        "stock": {"BACKEND": STOCK_BACKEND},
        "clear": {"LOCATION": redis_url(CLEAR_DB)},
    }
    return {alias: {**base, **extra, **params} for alias, extra in aliases.items()}


def delete_run_keys(client: redis.Redis) -> None:
    """Delete this run's keys (and only them) from one database."""
    keys = list(client.scan_iter(match=f"*{RUN_PREFIX}*", count=500))
    if keys:
        client.delete(*keys)


@pytest.fixture
def raw_redis() -> Iterator[redis.Redis]:
    """A plain sync redis-py client on the test database, for checks that go
    around the cache (TTLs, raw values); this run's keys are removed after."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        yield client
    finally:
        delete_run_keys(client)
        client.close()


@pytest.fixture
def cache_settings(raw_redis: redis.Redis) -> Iterator[None]:
    """CACHES = Django's test aliases on oneloop's backend, this run's prefix."""
    with override_settings(CACHES=caches_setting()):
        try:
            yield
        finally:
            caches["default"].close()


class Api:
    """One cache alias seen through one API: ``api.get(...)`` calls

    * ``sync``: ``cache.get(...)`` with no loop running (Django's sync client);
    * ``bridge``: ``cache.get(...)`` from sync code inside a bridge greenlet
      (async-native through ``await_``);
    * ``async``: ``await cache.aget(...)`` (awaited by the bridge the test body
      runs in, so the same test body reads as sync code for all three).
    """

    def __init__(self, mode: str, alias: str = "default") -> None:
        self.mode = mode
        self.cache = caches[alias]

    def of(self, alias: str) -> Api:
        return Api(self.mode, alias)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if self.mode != "async":
            return getattr(self.cache, name)
        method = getattr(self.cache, "a" + name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return await_(method(*args, **kwargs))

        return call


MODES = ["sync", "bridge", "async"]


@pytest.fixture(params=MODES)
def run(request: pytest.FixtureRequest, cache_settings: None) -> Callable[..., Any]:
    """``run(body)`` calls ``body(api)`` in the API mode of this parameter.

    ``bridge`` and ``async`` run the body with ``asyncio.run(run_sync(...))``:
    a fresh loop each time, whose Redis pools close when it shuts down.
    """
    mode = request.param

    def runner(body: Callable[[Api], Any]) -> Any:
        if mode == "sync":
            return body(Api(mode))

        async def main() -> Any:
            return await run_sync(body, Api(mode))

        return asyncio.run(main())

    runner.mode = mode  # type: ignore[attr-defined]
    return runner


class _Closed(Exception):
    """One side of a proxied connection closed it."""


# A command as redis-py sends it: an array whose first bulk string is its name.
_COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")


class LatencyProxy:
    """A TCP proxy on 127.0.0.1 that forwards to Redis and delays every chunk
    Redis sends back by ``delay`` seconds (per chunk, not per connection, so
    pipelined replies are not serialized by the proxy itself).

    ``sent`` counts the commands forwarded to Redis by name (``b"GET"``), and
    ``await proxy.until_sent(b"GET", n)`` returns once ``n`` of them are: the
    replies are then on their way, held in the proxy."""

    def __init__(self, target_host: str, target_port: int, delay: float) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.server: asyncio.Server | None = None
        self.port = 0
        self.connections = 0
        self.sent: collections.Counter[bytes] = collections.Counter()
        self._sent_changed = asyncio.Condition()
        self._tasks: set[asyncio.Task] = set()

    async def until_sent(self, command: bytes, count: int) -> None:
        """Wait until ``count`` ``command``s in all have reached Redis."""
        async with self._sent_changed:
            await self._sent_changed.wait_for(lambda: self.sent[command] >= count)

    async def __aenter__(self) -> LatencyProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def _handle(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        assert handler is not None
        self._tasks.add(handler)
        server_writer = None
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
            pending: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._forward(client_reader, server_writer))
                group.create_task(self._collect(server_reader, pending))
                group.create_task(self._deliver(pending, client_writer))
        except (asyncio.CancelledError, ConnectionError, _Closed, ExceptionGroup):
            pass
        finally:
            self._tasks.discard(handler)
            for writer in (client_writer, server_writer):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()

    async def _forward(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
            self.sent.update(name.upper() for name in _COMMAND.findall(data))
            async with self._sent_changed:
                self._sent_changed.notify_all()
        raise _Closed

    async def _collect(
        self, reader: asyncio.StreamReader, pending: asyncio.Queue
    ) -> None:
        while data := await reader.read(65536):
            pending.put_nowait((time.monotonic() + self.delay, data))
        raise _Closed

    async def _deliver(
        self, pending: asyncio.Queue, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            due, data = await pending.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()


@pytest.fixture
async def latency_proxy() -> Any:
    """A ``LatencyProxy`` to ``settings.REDIS_URL`` adding 50 ms per reply."""
    parts = urlsplit(settings.REDIS_URL)
    async with LatencyProxy(
        parts.hostname or "127.0.0.1", parts.port or 6379, 0.05
    ) as proxy:
        yield proxy
