"""Lifespan shutdown closes the loop's pools, over a real uvicorn.

The server (``tests.asgi.project.asgi_held``) serves requests that open its
database and Redis pools, then is told to stop. When oneloop's handler has
finished the lifespan shutdown, the process is held alive: PostgreSQL's
``pg_stat_activity`` and Redis's ``CLIENT LIST`` must then show none of its
connections (each carries the server's own client name). Once the process
exits the operating system would close them anyway, so this is the moment
that tells whether the handler closed them.
"""

from __future__ import annotations

import signal
import time
import uuid

import httpx
import pytest
import redis
from django.conf import settings

from tests.asgi.conftest import start_server

pytestmark = [pytest.mark.postgresql, pytest.mark.redis]


def _database_connections(pg, database: str, name: str) -> int:
    with pg(database) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [name],
        ).fetchone()
    return count


def _redis_connections(name: str) -> int:
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        return sum(1 for c in client.client_list() if c.get("name") == name)


def test_lifespan_shutdown_closes_database_and_cache_pools(asgi_database, pg, tmp_path):
    name = f"oneloop-lifespan-{uuid.uuid4().hex[:8]}"
    mark = tmp_path / "held"
    server = start_server(
        asgi_database,
        "greenlet",
        tmp_path,
        app="tests.asgi.project.asgi_held:application",
        ONELOOP_ASGI_CLIENT_NAME=name,
        ONELOOP_ASGI_REDIS_URL=settings.REDIS_URL,
        ONELOOP_ASGI_CACHE_PREFIX=name,
        ONELOOP_ASGI_HELD_MARK=str(mark),
    )
    try:
        for _ in range(3):
            response = httpx.get(f"{server.url}/db-and-cache/", timeout=10)
            assert response.status_code == 200, response.text
        # The pools keep their connections between requests.
        assert _database_connections(pg, asgi_database, name) >= 1
        assert _redis_connections(name) >= 1

        server.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 20
        while not mark.exists():  # another process: nothing to wait on but it
            assert server.process.poll() is None, server.output.read_text()
            assert time.monotonic() < deadline, "no lifespan shutdown in 20 s"
            time.sleep(0.05)
        # The handler has finished its shutdown; the process is still alive.
        assert server.process.poll() is None
        assert _database_connections(pg, asgi_database, name) == 0
        assert _redis_connections(name) == 0

        server.process.send_signal(signal.SIGUSR1)
        assert server.process.wait(10) == 0
        output = server.output.read_text()
        assert "shutdown failed" not in output.lower(), output
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(5)
