"""Real server processes for the suites that need them: free ports, the
shared PostgreSQL server's admin connection, throwaway databases on it, and
uvicorn serving a test project."""

from __future__ import annotations

import shutil
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

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]


def unavailable(message: str, *, module: bool = False) -> None:
    """Something a test needs is missing: skip locally, fail under CI (a
    green CI run means every test really ran). ``module``: called at import
    time, for the whole test module."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message, allow_module_level=module)


def need_program(name: str, package: str) -> str:
    """Path of the program ``name`` (also looked for in the sbin directories
    Debian installs servers into); :func:`unavailable` when it is missing."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()),
        None,
    )
    if path is None:
        unavailable(f"{name} is not installed: apt-get install {package}")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def admin_dsn(dbname: str = "postgres") -> str:
    """DSN of the shared test server (``tests.settings``)."""
    return (
        f"host={settings.PG_HOST} port={settings.PG_PORT} "
        f"user={settings.PG_USER} dbname={dbname}"
    )


def recreate_database(name: str) -> None:
    """An empty database ``name`` on the shared server, dropped first if it
    is left over from an earlier run."""
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_uvicorn(
    app: str,
    *,
    env: dict[str, str],
    output: Path,
    probe: str,
    options: tuple[str, ...] = (),
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start ``uvicorn app`` (uvloop, no access log) on a free port with
    ``env``, its output in ``output``; return its URL and process once
    ``probe`` answers (at most 30 s)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
        "--loop",
        "uvloop",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "5",
    ]
    return start_server("uvicorn", command, port, env=env, output=output, probe=probe)


def start_server(
    name: str,
    command: list[str],
    port: int,
    *,
    env: dict[str, str],
    output: Path,
    probe: str,
) -> tuple[str, subprocess.Popen[bytes]]:
    """Run the server ``command`` (``name``, listening on 127.0.0.1:``port``)
    with ``env``, its output in ``output``; return its URL and process once
    ``probe`` answers (at most 30 s)."""
    with output.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}:\n"
                f"{output.read_text(errors='replace')}"
            )
        try:
            httpx.get(f"{url}{probe}", timeout=2).raise_for_status()
            return url, process
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                stop_process(process, grace=10)
                raise RuntimeError(
                    f"{name} did not answer within 30 s:\n"
                    f"{output.read_text(errors='replace')}"
                ) from None
            time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes], grace: float) -> None:
    """Ask a server to shut down (SIGINT), kill it after ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
