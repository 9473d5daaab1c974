"""``cached_db`` sessions on oneloop's Redis cache, over real HTTP.

``cached_db_server`` is the test project under uvicorn, in both
``SYNC_VIEWS`` modes, with ``SESSION_ENGINE`` = ``cached_db`` and the default
cache on ``oneloop.cache.backends.redis.RedisCache``. A sync login and an
async one write the session, a sync view and an async view read it back; the
test then finds the same session in Redis (read through Django's cache API,
on the server's key prefix) and in the database, and checks that a cache
miss is served from the database and fills the cache again.
"""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from django.conf import settings
from django.contrib.sessions.backends.cached_db import KEY_PREFIX, SessionStore
from django.test import override_settings

from oneloop.cache import aclose_pools
from oneloop.cache.backends.redis import RedisCache
from tests.asgi.conftest import loop_only
from tests.asgi.project.settings import SECRET_KEY as PROJECT_SECRET_KEY

pytestmark = [pytest.mark.postgresql, pytest.mark.redis]


def _from_database(pg, database: str, session_key: str, username: str):
    """The session as the database holds it, and the user's id."""
    with pg(database) as conn:
        (data,) = conn.execute(
            "SELECT session_data FROM django_session WHERE session_key = %s "
            "AND expire_date > now()",
            [session_key],
        ).fetchone()
        (user_id,) = conn.execute(
            "SELECT id FROM auth_user WHERE username = %s", [username]
        ).fetchone()
    with override_settings(SECRET_KEY=PROJECT_SECRET_KEY):
        return SessionStore().decode(data), user_id


@pytest.mark.parametrize(("path", "n"), [("/login/", 3), ("/alogin/", 4)])
async def test_cached_db_session_round_trip(cached_db_server, pg, path, n):
    server = cached_db_server
    username = f"user{n}"
    marker = f"marker-{n}-{secrets.token_hex(4)}"
    cache = RedisCache(settings.REDIS_URL, {"KEY_PREFIX": server.cache_prefix})
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        login = await http.post(
            path,
            data={
                "username": username,
                "password": f"pw-{username}",
                "marker": marker,
                "tz": "Asia/Tokyo",
            },
        )
        assert login.status_code == 200, login.text
        session_key = http.cookies["sessionid"]
        # Read back by a sync view (and the sync middleware) ...
        seen = (await http.get("/isolation/")).json()
        assert (seen["user"], seen["marker"], seen["tz"]) == (
            username,
            marker,
            "Asia/Tokyo",
        )
        # ... and by an async view.
        body = (await http.get("/contrib-async/")).json()
        assert (body["user"], body["marker"]) == (username, marker)
        if server.on_loop:
            # Session and cache IO awaited on the loop: no executor thread.
            assert loop_only(body["threads"]), body["threads"]
        try:
            cached = await cache.aget(KEY_PREFIX + session_key)
            stored, user_id = await asyncio.to_thread(
                _from_database, pg, server.database, session_key, username
            )
            assert cached is not None, "the session is not in Redis"
            assert cached["marker"] == marker
            assert cached["_auth_user_id"] == str(user_id)
            assert stored == cached
            # A cache miss: the session comes from the database, and is
            # cached again.
            await cache.adelete(KEY_PREFIX + session_key)
            again = (await http.get("/isolation/")).json()
            assert (again["user"], again["marker"]) == (username, marker)
            assert await cache.aget(KEY_PREFIX + session_key) == cached
        finally:
            await aclose_pools()
