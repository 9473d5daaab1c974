"""The HTTP systems under test: how each is started, and its process tree.

Every server listens on 127.0.0.1 on a free port, in its own process group,
and is stopped by its process id when its scenarios are done. Each is
configured the way its own documentation recommends for production; the
``config`` text of each system says how, and lands in the results file.
"""

from __future__ import annotations

import glob
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

import psutil

from bench.db import Target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class System:
    """One system under test."""

    name: str
    label: str
    server: str  # "gthread", "gevent", "uvicorn" or "granian"
    app: str  # import path of the WSGI/ASGI application
    prefix: str  # URL prefix of its views: "/sync/" or "/async/"
    django_system: str = "stock"  # BENCH_SYSTEM for the Django ones
    scenarios: tuple[str, ...] = ("P2", "P4", "P5", "P6")  # () = P3 rounds only
    needs: tuple[str, ...] = field(default_factory=tuple)  # importable modules

    def config(self, workers: int, pool: int) -> str:
        """How this system is configured, in words, for the report."""
        if self.server == "gthread":
            engine = {
                "oneloop": "oneloop's ENGINE (sync path, no loop), its pool",
                "stock+app": "oneloop in INSTALLED_APPS, Django's psycopg pool",
            }.get(self.django_system, "Django's psycopg pool")
            return (
                f"gunicorn, {workers} gthread worker(s) x {pool} threads "
                f"(one per pool connection), {engine} {pool}/worker"
            )
        if self.server == "gevent":
            return (
                f"gunicorn, {workers} gevent worker(s), worker_connections 1000, "
                f"psycopg's gevent-aware waiting, Django's psycopg pool {pool}/worker"
            )
        pool_text = {
            "fastapi": f"SQLAlchemy pool_size {pool}, max_overflow 0",
            "raw": f"psycopg AsyncConnectionPool {pool}",
        }.get(self.name.split("-")[0], f"{self.django_system} ENGINE pool {pool}")
        if self.server == "granian":
            return (
                f"granian (ASGI), {workers} worker(s), uvloop, {pool_text} per worker"
            )
        return (
            f"uvicorn, {workers} worker(s), uvloop + httptools, {pool_text} per worker"
        )


SYSTEMS: dict[str, System] = {
    s.name: s
    for s in (
        System("wsgi", "Django WSGI (gunicorn gthread)", "gthread",
               "bench.wsgi:application", "/sync/"),
        System("gevent", "Django + gevent (gunicorn gevent)", "gevent",
               "bench.wsgi:application", "/sync/", needs=("gevent",)),
        System("asgi-sync", "Django ASGI, sync view", "uvicorn",
               "bench.asgi:application", "/sync/"),
        System("asgi-async", "Django ASGI, async view", "uvicorn",
               "bench.asgi:application", "/async/"),
        System("oneloop-sync", "Django + oneloop, sync view", "uvicorn",
               "bench.asgi:application", "/sync/", "oneloop",
               needs=("oneloop.asgi",)),
        System("oneloop-async", "Django + oneloop, async view", "uvicorn",
               "bench.asgi:application", "/async/", "oneloop",
               needs=("oneloop.asgi",)),
        # The same apps under granian (a Rust HTTP server users pick for
        # speed): P2, P4 and P5 beside their uvicorn rows.
        System("asgi-sync-granian", "Django ASGI, sync view, granian", "granian",
               "bench.asgi:application", "/sync/", scenarios=("P2", "P4", "P5"),
               needs=("granian",)),
        System("oneloop-sync-granian", "Django + oneloop, sync view, granian",
               "granian", "bench.asgi:application", "/sync/", "oneloop",
               scenarios=("P2", "P4", "P5"), needs=("oneloop.asgi", "granian")),
        System("oneloop-async-granian", "Django + oneloop, async view, granian",
               "granian", "bench.asgi:application", "/async/", "oneloop",
               scenarios=("P2", "P4", "P5"), needs=("oneloop.asgi", "granian")),
        System("fastapi", "FastAPI + SQLAlchemy 2 asyncio", "uvicorn",
               "bench.peers.fastapi_app:app", "/async/",
               needs=("fastapi", "sqlalchemy")),
        System("raw", "raw ASGI + psycopg pool (floor)", "uvicorn",
               "bench.peers.raw_asgi:app", "/async/"),
        # P3 only (no scenario of their own): measured in rounds beside "wsgi"
        # on P4. The same project with "oneloop" in INSTALLED_APPS and nothing
        # else changed (installed vs not), and with oneloop's ENGINE.
        System("wsgi-app", "Django WSGI, oneloop in INSTALLED_APPS", "gthread",
               "bench.wsgi:application", "/sync/", "stock+app", scenarios=()),
        System("wsgi-oneloop", "Django WSGI, oneloop's ENGINE (no loop)", "gthread",
               "bench.wsgi:application", "/sync/", "oneloop", scenarios=()),
    )
}  # fmt: skip


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A running server of one system (started by :meth:`start`)."""

    def __init__(self, system: System, workers: int, pool: int, target: Target):
        self.system = system
        self.workers = workers
        self.pool = pool
        self.target = target
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(
            ROOT, "bench", "results", f"tmp-{system.name}-{workers}.log"
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, scenario: str) -> str:
        """URL of a scenario's view, e.g. ``/sync/p2/``."""
        return f"{self.base_url}{self.system.prefix}{scenario.lower()}/"

    def command(self) -> list[str]:
        s, bind = self.system, f"127.0.0.1:{self.port}"
        if s.server in {"gthread", "gevent"}:
            cmd = [sys.executable, "-m", "gunicorn", s.app, "-b", bind,
                   "-w", str(self.workers), "--backlog", "2048",
                   "--log-level", "warning"]  # fmt: skip
            if s.server == "gthread":
                return [*cmd, "-k", "gthread", "--threads", str(self.pool)]
            return [*cmd, "-k", "gevent", "--worker-connections", "1000"]
        if s.server == "granian":
            return [sys.executable, "-m", "granian", "--interface", "asgi",
                    "--host", "127.0.0.1", "--port", str(self.port),
                    "--workers", str(self.workers), "--loop", "uvloop",
                    "--no-ws", "--backlog", "2048", "--log-level", "warning",
                    s.app]  # fmt: skip
        return [sys.executable, "-m", "uvicorn", s.app, "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", str(self.workers),
                "--loop", "uvloop", "--http", "httptools", "--backlog", "2048",
                "--no-access-log", "--log-level", "warning"]  # fmt: skip

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until ``/health/`` answers."""
        env = {
            **os.environ,
            **self.target.env(),
            "BENCH_SYSTEM": self.system.django_system,
            "BENCH_POOL": str(self.pool),
            "BENCH_SERVER": self.system.server,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "PYTHONUNBUFFERED": "1",
        }
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(), cwd=ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.system.name} exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/health/", timeout=2):
                    pass
                if self.workers == 1 or self._all_workers_up():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.system.name} did not start: {self.log_tail()}")

    def _all_workers_up(self) -> bool:
        return len(self.processes()) > self.workers

    def log_tail(self, lines: int = 3) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                return " | ".join(log.read().strip().splitlines()[-lines:])
        except OSError:
            return ""

    def processes(self) -> list[psutil.Process]:
        """The server's process and all its children (workers)."""
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the whole process tree."""
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def cpu_wait_seconds(self) -> float:
        """Seconds the process tree's threads have spent so far runnable but
        waiting for a CPU (Linux ``schedstat``; 0 where it is missing): how
        much the other work on the machine held the server back."""
        total = 0
        for proc in self.processes():
            for path in glob.glob(f"/proc/{proc.pid}/task/*/schedstat"):
                try:
                    with open(path, encoding="ascii") as stat:
                        total += int(stat.read().split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        return total / 1e9

    def memory(self) -> tuple[int, int]:
        """(RSS in bytes, thread count) summed over the process tree."""
        rss = threads = 0
        for proc in self.processes():
            try:
                rss += proc.memory_info().rss
                threads += proc.num_threads()
            except psutil.NoSuchProcess:
                pass
        return rss, threads

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL it after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
