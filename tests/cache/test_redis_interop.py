"""oneloop's RedisCache and Django's share a Redis: same keys, same values.

Also the session backends that sit on the cache (``cache`` and
``cached_db``) work on it, through the sync and the async session API.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import importlib

import pytest
from django.core.cache import caches
from django.test import override_settings

from oneloop.bridge import run_sync

pytestmark = pytest.mark.redis

VALUES = {
    "int": 42,
    "negative": -7,
    "str": "Iñtërnâtiônàlizætiøn",
    "bytes": b"\x00\xffraw",
    "none": None,
    "bool": True,
    "list": [1, "two", 3.0],
    "dict": {"nested": {"x": (1, 2)}},
    "decimal": decimal.Decimal("1.10"),
    "datetime": datetime.datetime(2024, 5, 17, 12, 30, tzinfo=datetime.UTC),
}


def test_stock_writes_oneloop_reads(cache_settings):
    stock, ours = caches["stock"], caches["default"]
    stock.set_many(VALUES)
    stock.set("versioned", "v3", version=3)

    async def main() -> None:
        assert await ours.aget_many(list(VALUES)) == VALUES
        for key, value in VALUES.items():
            assert await ours.aget(key, "missing") == value
        assert await ours.aget("versioned", version=3) == "v3"
        assert await ours.aincr("int", 8) == 50

    asyncio.run(main())
    assert ours.get_many(list(VALUES)) == {**VALUES, "int": 50}
    assert stock.get("int") == 50


def test_oneloop_writes_stock_reads(cache_settings):
    stock, ours = caches["stock"], caches["default"]

    async def main() -> None:
        await ours.aset_many(VALUES)
        await ours.aset("versioned", "v3", version=3)
        assert await ours.aadd("added", "first") is True
        await ours.aset("count", 1)
        await ours.aincr_version("count")  # moves it to version 2

    asyncio.run(main())
    assert stock.get_many(list(VALUES)) == VALUES
    assert stock.get("versioned", version=3) == "v3"
    assert stock.add("added", "second") is False
    assert stock.get("count") is None
    assert stock.incr("count", 4, version=2) == 5


def test_keys_are_byte_identical(cache_settings, raw_redis):
    """The stored bytes are Django's: the same key and payload, TTL included."""
    stock, ours = caches["stock"], caches["default"]
    stock.set("same", {"a": 1}, 60)
    stock_bytes = raw_redis.get(stock.make_key("same"))
    stock.delete("same")

    async def main() -> None:
        await ours.aset("same", {"a": 1}, 60)

    asyncio.run(main())
    assert ours.make_key("same") == stock.make_key("same")
    assert raw_redis.get(ours.make_key("same")) == stock_bytes
    assert 55 < raw_redis.ttl(ours.make_key("same")) <= 60


# -- sessions -----------------------------------------------------------------


def _session_store(engine: str):
    return importlib.import_module(engine).SessionStore


CACHE_SESSIONS = "django.contrib.sessions.backends.cache"


@pytest.fixture
def cache_sessions(cache_settings):
    with override_settings(
        SESSION_ENGINE=CACHE_SESSIONS, SESSION_CACHE_ALIAS="default"
    ):
        yield _session_store(CACHE_SESSIONS)


def test_cache_sessions_sync(cache_sessions):
    SessionStore = cache_sessions
    session = SessionStore()
    session["cart"] = [1, 2]
    session.save()
    key = session.session_key
    assert key
    assert caches["default"].get(session.cache_key) == {"cart": [1, 2]}

    loaded = SessionStore(key)
    assert loaded["cart"] == [1, 2]
    assert loaded.exists(key) is True
    loaded["cart"].append(3)
    loaded.modified = True
    loaded.save()
    assert SessionStore(key)["cart"] == [1, 2, 3]
    loaded.delete()
    assert SessionStore().exists(key) is False


def test_cache_sessions_async(cache_sessions):
    SessionStore = cache_sessions

    async def main() -> str:
        session = SessionStore()
        await session.aset("cart", [1, 2])
        await session.asave()
        key = session.session_key
        assert key

        loaded = SessionStore(key)
        assert await loaded.aget("cart") == [1, 2]
        assert await loaded.aexists(key) is True
        await loaded.aset("cart", [1, 2, 3])
        await loaded.asave()
        assert await SessionStore(key).aget("cart") == [1, 2, 3]
        await loaded.acycle_key()
        new_key = loaded.session_key
        assert new_key != key
        assert await SessionStore().aexists(key) is False
        assert await SessionStore(new_key).aget("cart") == [1, 2, 3]
        return new_key

    key = asyncio.run(main())
    # The async API wrote what the sync API reads.
    assert SessionStore(key)["cart"] == [1, 2, 3]

    async def delete() -> None:
        await SessionStore(key).adelete()
        assert await SessionStore().aexists(key) is False

    asyncio.run(delete())


def test_cache_sessions_sync_api_in_a_bridge(cache_sessions):
    """A sync view's ``request.session`` under oneloop: the sync API inside a
    bridge greenlet, async-native underneath."""
    SessionStore = cache_sessions

    def view_code() -> str:
        session = SessionStore()
        session["user"] = "ann"
        session.save()
        assert SessionStore(session.session_key)["user"] == "ann"
        return session.session_key

    async def main() -> str:
        return await run_sync(view_code)

    key = asyncio.run(main())
    assert SessionStore(key)["user"] == "ann"


CACHED_DB_SESSIONS = "django.contrib.sessions.backends.cached_db"


@pytest.mark.django_db
def test_cached_db_sessions_sync(cache_settings):
    with override_settings(
        SESSION_ENGINE=CACHED_DB_SESSIONS, SESSION_CACHE_ALIAS="default"
    ):
        SessionStore = _session_store(CACHED_DB_SESSIONS)
        session = SessionStore()
        session["n"] = 1
        session.save()
        key = session.session_key
        assert caches["default"].get(session.cache_key) == {"n": 1}
        # Gone from the cache: the database copy is used and re-cached.
        caches["default"].delete(session.cache_key)
        assert SessionStore(key)["n"] == 1
        assert caches["default"].get(session.cache_key) == {"n": 1}
