"""Fixtures shared by the whole suite.

Services are real: PostgreSQL (or MariaDB/MySQL in the ``mysql`` pass),
Redis and (started per test) an SMTP server.
A service that is down makes the tests that need it skip locally with a
message saying how to start it, and *fail* under CI (``CI=true``), so a
green CI run always means the tests really ran.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest
from django.conf import settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

_START_HINTS = {
    "postgresql": "start it with: pg_ctlcluster --skip-systemctl-redirect "
    "$(ls /etc/postgresql) main start (or run .ci/run)",
    "mysql": "start MariaDB with: start-stop-daemon --start --oknodo "
    "--background --exec /usr/sbin/mariadbd (or run .ci/run)",
    "redis": "start it with: redis-server --daemonize yes --bind 127.0.0.1 "
    "--port 6379 --save '' --appendonly no (or run .ci/run)",
}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _service_up(name: str) -> tuple[bool, str]:
    if name == "postgresql":
        host, port = settings.PG_HOST, int(settings.PG_PORT)
    elif name == "mysql":
        host, port = settings.MYSQL_HOST, int(settings.MYSQL_PORT)
    else:
        from urllib.parse import urlsplit

        url = urlsplit(settings.REDIS_URL)
        host, port = url.hostname or "127.0.0.1", url.port or 6379
    return _reachable(host, port), f"{name} is not reachable at {host}:{port}"


def pytest_collection_modifyitems(config, items):
    # The database of this pass is needed by every test; tests marked with
    # another pass's database run in that pass.
    for name in ("postgresql", "mysql", "redis"):
        marked = [item for item in items if item.get_closest_marker(name)]
        this_pass = settings.DB == name
        if name != "redis" and not this_pass:
            for item in marked:
                item.add_marker(
                    pytest.mark.skip(reason=f"{name}-only; this pass is {settings.DB}")
                )
            continue
        if not marked and not this_pass:
            continue
        up, why = _service_up(name)
        if up:
            continue
        message = f"{why}; {_START_HINTS[name]}"
        if IN_CI:
            raise pytest.UsageError(f"CI needs every service: {message}")
        for item in items if this_pass else marked:
            item.add_marker(pytest.mark.skip(reason=message))
    # GeoDjango's tests run in the PostgreSQL pass, where tests/settings.py
    # adds the PostGIS alias when PostGIS, GDAL and GEOS are installed.
    spatial = [item for item in items if item.get_closest_marker("postgis")]
    if spatial and settings.DB == "postgresql" and settings.POSTGIS_MISSING:
        if IN_CI:
            raise pytest.UsageError(f"CI needs PostGIS: {settings.POSTGIS_MISSING}")
        for item in spatial:
            item.add_marker(pytest.mark.skip(reason=settings.POSTGIS_MISSING))


@pytest.fixture(autouse=True)
async def _close_pools_with_the_test_loop():
    """Each test runs on its own event loop, with its own connection pools:
    close them before the loop goes, as an ASGI server's lifespan shutdown
    does, so no pool is still connecting when the loop cancels its tasks."""
    yield
    from oneloop.db import aclose_pools

    await aclose_pools()


@pytest.fixture
def new_threads():
    """Returns the threads started since the fixture was set up, except the
    SQLite ENGINE's own: each SQLite connection owns a thread that runs its
    sqlite3 calls (sqlite3 has no async API), by design."""
    before = set(threading.enumerate())

    def started() -> set[threading.Thread]:
        return {
            thread
            for thread in set(threading.enumerate()) - before
            if not thread.name.startswith("oneloop-sqlite")
        }

    return started


def pytest_report_header(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    return f"oneloop tests on {settings.DB} (ENGINE {engine})"
