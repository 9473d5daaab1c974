"""Fixtures of the reliability suite: real services, and throwaway ones that
the tests may break.

* ``LONG`` is true when ``ONELOOP_RELIABILITY=long``: the documented long run
  (10 000 cancelled tasks …). Without it the suite runs the short version CI
  runs, with the same code and smaller counts.
* ``project_database``: a database of its own on the shared PostgreSQL
  server, prepared by ``tests.reliability.project.prepare``.
* ``start_project`` starts ``uvicorn tests.reliability.project.asgi`` on
  127.0.0.1 at a free port with the pool settings a test asks for.
* ``pg_cluster``: a PostgreSQL cluster of the test's own (``initdb`` in a
  temporary directory, a free port, its unix socket in that directory), that
  the restart test stops and starts. The machine's shared server is never
  touched.
* ``redis_server``: a ``redis-server`` of the test's own on a free port, with
  an fsync-always append-only file, so acknowledged writes survive a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.conf import settings

from tests.servers import (
    ROOT,
    drop_database,
    free_port,
    need_program,
    recreate_database,
    start_uvicorn,
    stop_process,
    unavailable,
)

LONG = os.environ.get("ONELOOP_RELIABILITY", "").lower() == "long"
PG_BIN = Path(os.environ.get("ONELOOP_PG_BIN", "/usr/lib/postgresql/15/bin"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "reliability: fault-injection and load tests; ONELOOP_RELIABILITY=long "
        "runs the long version",
    )


async def restart_under_load(
    stop: Callable[[], None],
    start: Callable[[], None],
    succeeded: Callable[[], int],
    restarts: int,
    pool_timeout: float,
) -> None:
    """Stop and start a database server ``restarts`` times while clients
    run, each outage a second long; after each, some request must have
    succeeded (``succeeded()`` counts them) once the pools could recover."""
    for _ in range(restarts):
        await asyncio.sleep(1.5)
        before = succeeded()
        await asyncio.to_thread(stop)
        await asyncio.sleep(1.0)  # an outage, not just a blip
        await asyncio.to_thread(start)
        await asyncio.sleep(pool_timeout + 1)
        assert succeeded() > before, "no request succeeded around a restart"


def scale(short: int, long: int) -> int:
    """``long`` in the long run, ``short`` otherwise."""
    return long if LONG else short


def server_activity(dsn: str) -> dict[str, int]:
    """Client backends of the DSN's database other than this one, by state."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' GROUP BY 1"
        ).fetchall()
    return dict(rows)


def prepare_database(env: dict[str, str]) -> None:
    """Migrate and seed the project database the environment names."""
    subprocess.run(
        [sys.executable, "-m", "tests.reliability.project.prepare"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=180,
    )


def project_env(
    database: str,
    host: str | None = None,
    port: int | str | None = None,
    **extra: str,
) -> dict[str, str]:
    """Environment of a project process using ``database``."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.reliability.project.settings",
        ONELOOP_REL_DB_NAME=database,
        ONELOOP_REL_PG_HOST=str(host or settings.PG_HOST),
        ONELOOP_REL_PG_PORT=str(port or settings.PG_PORT),
        ONELOOP_REL_PG_USER=str(settings.PG_USER),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        **extra,
    )
    return env


@pytest.fixture(scope="session")
def project_database() -> Iterator[str]:
    """A fresh, prepared database on the shared server, dropped afterwards."""
    base = os.environ.get("ONELOOP_TEST_PG_NAME", "test_oneloop")
    name = f"{base}_reliability"
    recreate_database(name)
    prepare_database(project_env(name))
    yield name
    drop_database(name)


@dataclasses.dataclass
class ProjectServer:
    """A running uvicorn process serving the reliability project."""

    url: str
    output: Path
    process: subprocess.Popen

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def stats(self) -> dict[str, Any]:
        """The server's own view of its health (see ``views.stats``)."""
        response = httpx.get(f"{self.url}/stats/", timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        stop_process(self.process, grace=15)


def start_project_server(env: dict[str, str], output: Path) -> ProjectServer:
    """Start uvicorn with ``env``; wait (at most 30 s) until it answers."""
    url, process = start_uvicorn(
        "tests.reliability.project.asgi:application",
        env=env,
        output=output,
        probe="/health/",
    )
    return ProjectServer(url, output, process)


@pytest.fixture
def start_project(
    tmp_path: Path,
) -> Iterator[Any]:
    """``start_project(database, host=, port=, **env)`` → a running server,
    stopped at the end of the test."""
    running: list[ProjectServer] = []

    def start(
        database: str, host: str | None = None, port: Any = None, **extra: str
    ) -> ProjectServer:
        output = tmp_path / f"uvicorn-{len(running)}.out"
        env = project_env(database, host, port, **extra)
        server = start_project_server(env, output)
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


# -- a throwaway PostgreSQL cluster ----------------------------------------


def _as_postgres(args: list[str]) -> list[str]:
    """Run ``args`` as the postgres user when we are root (initdb and the
    server refuse to run as root)."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@dataclasses.dataclass
class PgCluster:
    """A PostgreSQL cluster in a temporary directory, ours to break."""

    directory: Path
    port: int

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30", *args]
            ),
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} -c max_connections=200 "
            "-c fsync=off -c shared_buffers=16MB"
        )
        self._ctl("-o", options, "-l", str(self.directory / "server.log"), "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")

    def running(self) -> bool:
        result = subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return result.returncode == 0


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PgCluster]:
    """A running throwaway cluster (trust auth, 127.0.0.1 only), removed at
    the end of the module."""
    if not (PG_BIN / "initdb").exists():
        unavailable(f"no PostgreSQL binaries in {PG_BIN} (set ONELOOP_PG_BIN)")
    directory = Path(tempfile.mkdtemp(prefix="oneloop-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    cluster = PgCluster(directory, free_port())
    subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(cluster.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ]
        ),
        check=True,
        timeout=120,
        stdout=subprocess.DEVNULL,
    )
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            if cluster.running():
                cluster.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


# -- a throwaway Redis server ----------------------------------------------


@dataclasses.dataclass
class RedisServer:
    """A ``redis-server`` on 127.0.0.1, ours to kill and restart."""

    directory: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the hardest stop, nothing flushed that was not already."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A running throwaway Redis server."""
    need_program("redis-server", "redis-server")
    directory = Path(tempfile.mkdtemp(prefix="oneloop-redis-"))
    server = RedisServer(directory, free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(directory, ignore_errors=True)


@dataclasses.dataclass
class MariaDBServer:
    """A MariaDB server in a temporary directory, ours to stop and start."""

    directory: Path
    port: int
    process: subprocess.Popen | None = None

    def start(self) -> None:
        server = need_program("mariadbd", "mariadb-server")
        # The server refuses to run as root unless told to.
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        with (self.directory / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    server,
                    "--no-defaults",
                    f"--datadir={self.directory / 'data'}",
                    *as_root,
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    f"--socket={self.directory / 'mariadb.sock'}",
                    f"--pid-file={self.directory / 'mariadb.pid'}",
                    "--skip-log-bin",
                    "--innodb-buffer-pool-size=16M",
                    "--max-connections=300",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the private MariaDB server did not start: "
                    + (self.directory / "server.log").read_text()[-2000:]
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """A normal shutdown (SIGTERM): the server ends every session."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None


def _accepts(port: int) -> bool:
    import MySQLdb

    try:
        MySQLdb.connect(host="127.0.0.1", port=port, user="root").close()
    except MySQLdb.OperationalError:
        return False
    return True


@pytest.fixture(scope="module")
def mariadb_server() -> Iterator[MariaDBServer]:
    """A running throwaway MariaDB server (root without a password, 127.0.0.1
    only), removed at the end of the module."""
    install = need_program("mariadb-install-db", "mariadb-server")
    directory = Path(tempfile.mkdtemp(prefix="oneloop-mariadb-"))
    subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={directory / 'data'}",
            *(["--user=root"] if os.geteuid() == 0 else []),
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        timeout=120,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = MariaDBServer(directory, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
