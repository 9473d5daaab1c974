"""A real uvicorn server for the ASGI tests.

``asgi_database`` creates a PostgreSQL database of its own (dropped at the
end) and prepares it with ``tests.asgi.project.prepare``. ``server`` starts
``uvicorn tests.asgi.project.asgi:application`` on 127.0.0.1 at a free port,
one worker process, once per ``SYNC_VIEWS`` mode, and stops it at the end of
the module. The server's watchdog warnings go to a log file the tests read.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _admin_dsn() -> str:
    return (
        f"host={settings.PG_HOST} port={settings.PG_PORT} user={settings.PG_USER} "
        f"dbname=postgres"
    )


@pytest.fixture(scope="session")
def asgi_database():
    """Name of a freshly created and prepared database, dropped afterwards."""
    base = os.environ.get("ONELOOP_TEST_PG_NAME", "test_oneloop")
    name = f"{base}_asgi_server"
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = _server_env(name, "greenlet")
    subprocess.run(
        [sys.executable, "-m", "tests.asgi.project.prepare"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    yield name
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclasses.dataclass
class Server:
    """A running uvicorn process serving the test project."""

    url: str
    mode: str
    database: str
    log: Path
    output: Path
    process: subprocess.Popen

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
    port = free_port()
    log = tmp / f"watchdog-{mode}.log"
    output = tmp / f"uvicorn-{mode}.out"
    env = _server_env(database, mode, ONELOOP_ASGI_LOG=str(log), **extra_env)
    with output.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--loop",
                "uvloop",
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "5",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", mode, database, log, output, process)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"uvicorn exited with {process.returncode}:\n{output.read_text()}"
            )
        try:
            httpx.get(f"{server.url}/fast/", timeout=1).raise_for_status()
            return server
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                stop_server(server)
                raise RuntimeError(
                    f"uvicorn did not answer within 30 s:\n{output.read_text()}"
                ) from None
            time.sleep(0.1)


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)


@pytest.fixture(scope="module", params=["greenlet", "thread"])
def server(request, asgi_database, tmp_path_factory):
    """A uvicorn server with ``ONELOOP["SYNC_VIEWS"]`` = the param."""
    tmp = tmp_path_factory.mktemp(f"asgi-{request.param}")
    running = start_server(asgi_database, request.param, tmp)
    yield running
    stop_server(running)


@pytest.fixture
def pg():
    """A plain sync connection to the server's database, for inspection."""

    def connect(database: str) -> psycopg.Connection:
        return psycopg.connect(
            f"host={settings.PG_HOST} port={settings.PG_PORT} "
            f"user={settings.PG_USER} dbname={database}",
            autocommit=True,
        )

    return connect
