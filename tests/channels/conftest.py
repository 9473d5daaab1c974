"""Real servers for the Channels tests.

``channels_database`` prepares the project's database on the backend of this
pass of the suite (``ONELOOP_TEST_DB``): a PostgreSQL database of its own, or
an SQLite file. ``server`` starts uvicorn (with its ``websockets-sansio``
implementation) serving ``tests.channels.project.asgi:application`` on
127.0.0.1 at a free port with the in-memory channel layer; ``redis_server``
the same with ``channels_redis`` on the test Redis, under a prefix of its own
whose keys are removed afterwards; ``other_server`` daphne and granian.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.servers import (
    ROOT,
    drop_database,
    free_port,
    recreate_database,
    start_server,
    start_uvicorn,
    stop_process,
)

APP = "tests.channels.project.asgi:application"
POOL_MAX = 50


@dataclasses.dataclass
class Server:
    """A running server process serving the Channels test project."""

    url: str
    process: subprocess.Popen
    output: Path
    database: str

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    async def logged(self, text: str) -> bool:
        """Whether ``text`` appears in the server's output within 10 s: a
        server may log an error after it has closed the socket (granian
        does), from another process, so the client can see the close first."""
        try:
            async with asyncio.timeout(10):
                # Another process writes the file: nothing to wait on but it.
                while text not in self.log():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        except TimeoutError:
            return False
        return True


@pytest.fixture(scope="session")
def channels_database(tmp_path_factory):
    """The prepared database's name (PostgreSQL) or file (SQLite)."""
    if settings.DB == "postgresql":
        base = os.environ.get("ONELOOP_TEST_PG_NAME", "test_oneloop")
        name = f"{base}_channels_server"
        recreate_database(name)
    else:
        name = str(tmp_path_factory.mktemp("channels-db") / "channels.sqlite3")
    subprocess.run(
        [sys.executable, "-m", "tests.channels.project.prepare"],
        cwd=ROOT,
        env=server_env(name),
        check=True,
        timeout=120,
    )
    yield name
    if settings.DB == "postgresql":
        drop_database(name)


def server_env(database: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.channels.project.settings",
        ONELOOP_CHANNELS_DB=settings.DB,
        ONELOOP_CHANNELS_DB_NAME=database,
        ONELOOP_CHANNELS_POOL_MAX=str(POOL_MAX),
        ONELOOP_TEST_PG_HOST=str(settings.PG_HOST),
        ONELOOP_TEST_PG_PORT=str(settings.PG_PORT),
        ONELOOP_TEST_PG_USER=str(settings.PG_USER),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.update(extra)
    return env


def start(database: str, tmp: Path, **extra: str) -> Server:
    output = tmp / "uvicorn.out"
    url, process = start_uvicorn(
        APP,
        env=server_env(database, **extra),
        output=output,
        probe="/fast/",
        options=("--ws", "websockets-sansio", "--workers", "1"),
    )
    return Server(url, process, output, database)


@pytest.fixture(scope="module")
def server(channels_database, tmp_path_factory):
    """uvicorn with the in-memory channel layer."""
    running = start(channels_database, tmp_path_factory.mktemp("channels"))
    yield running
    stop_process(running.process, grace=10)


@pytest.fixture(scope="module")
def redis_server(channels_database, tmp_path_factory):
    """uvicorn with ``channels_redis`` on the test Redis."""
    prefix = f"oneloop-channels-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    running = start(
        channels_database,
        tmp_path_factory.mktemp("channels-redis"),
        ONELOOP_CHANNELS_REDIS_URL=settings.REDIS_URL,
        ONELOOP_CHANNELS_PREFIX=prefix,
    )
    yield running
    stop_process(running.process, grace=10)
    client = redis.Redis.from_url(settings.REDIS_URL)
    with contextlib.closing(client):
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)


@pytest.fixture(scope="module", params=["daphne", "granian"])
def other_server(request, channels_database, tmp_path_factory):
    """The project served by daphne (Channels' own server) or by granian,
    one process, in-memory channel layer."""
    port = free_port()
    commands = {
        "daphne": ["daphne", "-b", "127.0.0.1", "-p", str(port), APP],
        "granian": [
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            APP,
        ],
    }
    output = tmp_path_factory.mktemp(f"channels-{request.param}") / "server.out"
    url, process = start_server(
        request.param,
        [sys.executable, "-m", *commands[request.param]],
        port,
        env=server_env(channels_database),
        output=output,
        probe="/fast/",
    )
    running = Server(url, process, output, channels_database)
    yield running
    stop_process(running.process, grace=10)
