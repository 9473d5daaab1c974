"""A real uvicorn server for the ASGI tests.

``asgi_database`` creates a PostgreSQL database of its own (dropped at the
end) and prepares it with ``tests.asgi.project.prepare``. ``server`` starts
``uvicorn tests.asgi.project.asgi:application`` on 127.0.0.1 at a free port,
one worker process, once per ``SYNC_VIEWS`` mode, and stops it at the end of
the module. The server's watchdog warnings go to a log file the tests read.
``cached_db_server`` is the same server with ``cached_db`` sessions on
oneloop's Redis cache backend.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import uuid
from pathlib import Path

import django
import psycopg
import pytest
import redis
from django.conf import settings

from tests.servers import (
    ROOT,
    admin_dsn,
    drop_database,
    recreate_database,
    start_uvicorn,
    stop_process,
)


@pytest.fixture(scope="session")
def asgi_database():
    """Name of a freshly created and prepared database, dropped afterwards."""
    base = os.environ.get("ONELOOP_TEST_PG_NAME", "test_oneloop")
    name = f"{base}_asgi_server"
    recreate_database(name)
    env = _server_env(name, "greenlet")
    subprocess.run(
        [sys.executable, "-m", "tests.asgi.project.prepare"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    yield name
    drop_database(name)


def loop_only(threads: list[str]) -> bool:
    """Whether a server's thread names (``threading.enumerate()``) are those
    of a hop-free process: the loop's and the watchdog's. From Django 6.0
    (6.0.x releases and 6.1), ``acheck_password()`` verifies passwords
    (CPU-bound hashing, not IO) in the loop's default executor on purpose;
    those threads are Django's."""
    if django.VERSION >= (6, 0):
        threads = [t for t in threads if not t.startswith(("uvloop", "asyncio"))]
    return threads == ["MainThread", "oneloop-watchdog"]


def _server_env(database: str, mode: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.asgi.project.settings",
        ONELOOP_ASGI_DB_NAME=database,
        ONELOOP_ASGI_SYNC_VIEWS=mode,
        ONELOOP_TEST_PG_HOST=str(settings.PG_HOST),
        ONELOOP_TEST_PG_PORT=str(settings.PG_PORT),
        ONELOOP_TEST_PG_USER=str(settings.PG_USER),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        **extra,
    )
    return env


@dataclasses.dataclass
class Server:
    """A running uvicorn process serving the test project."""

    url: str
    mode: str
    database: str
    log: Path
    output: Path
    process: subprocess.Popen
    cache_prefix: str = ""

    @property
    def on_loop(self) -> bool:
        return self.mode == "greenlet"

    def watchdog_warnings(self) -> list[str]:
        """The watchdog warnings logged so far, one string each."""
        text = self.log.read_text() if self.log.exists() else ""
        return [
            "WARNING oneloop.watchdog" + chunk
            for chunk in text.split("WARNING oneloop.watchdog")[1:]
        ]

    def rss_kib(self) -> int:
        """The server's resident memory, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line in /proc status")


def start_server(
    database: str,
    mode: str,
    tmp: Path,
    app: str = "tests.asgi.project.asgi:application",
    **extra_env: str,
) -> Server:
    """Start uvicorn and wait until it answers (at most 30 s)."""
    log = tmp / f"watchdog-{mode}.log"
    output = tmp / f"uvicorn-{mode}.out"
    env = _server_env(database, mode, ONELOOP_ASGI_LOG=str(log), **extra_env)
    url, process = start_uvicorn(
        app, env=env, output=output, probe="/fast/", options=("--workers", "1")
    )
    return Server(url, mode, database, log, output, process)


def stop_server(server: Server) -> None:
    stop_process(server.process, grace=10)


@pytest.fixture(scope="module", params=["greenlet", "thread"])
def server(request, asgi_database, tmp_path_factory):
    """A uvicorn server with ``ONELOOP["SYNC_VIEWS"]`` = the param."""
    tmp = tmp_path_factory.mktemp(f"asgi-{request.param}")
    running = start_server(asgi_database, request.param, tmp)
    yield running
    stop_server(running)


@pytest.fixture(scope="module", params=["greenlet", "thread"])
def cached_db_server(request, asgi_database, tmp_path_factory):
    """The same server with ``cached_db`` sessions on oneloop's Redis cache:
    the test Redis database, under a key prefix of its own (``cache_prefix``)
    whose keys are removed afterwards."""
    tmp = tmp_path_factory.mktemp(f"asgi-cached-db-{request.param}")
    prefix = f"oneloop-asgi-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    running = start_server(
        asgi_database,
        request.param,
        tmp,
        ONELOOP_ASGI_SESSION_ENGINE="django.contrib.sessions.backends.cached_db",
        ONELOOP_ASGI_REDIS_URL=settings.REDIS_URL,
        ONELOOP_ASGI_CACHE_PREFIX=prefix,
    )
    running.cache_prefix = prefix
    yield running
    stop_server(running)
    client = redis.Redis.from_url(settings.REDIS_URL)
    with contextlib.closing(client):
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)


@pytest.fixture
def pg():
    """A plain sync connection to the server's database, for inspection."""

    def connect(database: str) -> psycopg.Connection:
        return psycopg.connect(admin_dsn(database), autocommit=True)

    return connect
