"""Compare oneloop's ASGI handler with stock Django ASGI and stock WSGI.

    python -m bench.asgi_compare [--seconds 5] [--connections 50] [--no-save]

All three serve the same project (``tests.asgi.project``) on one worker
process, on 127.0.0.1, against one PostgreSQL database this script creates
and drops:

* throughput: ``wrk`` on a sync view doing one indexed ORM lookup
  (``/one-query/``), requests/s and latency percentiles;
  The project runs with the middleware of a new project (``startproject``).
* memory: server RSS and thread count with 200 requests in flight (each
  waiting on ``SELECT pg_sleep(2)``), oneloop vs stock ASGI.

Stock systems run with ``ONELOOP_ASGI_STOCK=1``: Django's own PostgreSQL
backend and pool, no ``oneloop`` app. Every run is bounded (``--seconds``
per system, one 200-request burst). Compare systems only within one run.

This is not the benchmark suite's P4 (``python -m bench run``): another
project (the ASGI tests' one, with the admin, DRF and staticfiles
installed), another view (one row, no template), a pool of at most 30
connections opened on demand, and 50 gthread threads. The results go to
``bench/results/asgi-<date>.json`` and the tables of docs/asgi.md (see
``bench.publish``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from bench.load import wrk
from bench.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "bench_oneloop_asgi"
PG = {
    "host": os.environ.get("ONELOOP_TEST_PG_HOST", "127.0.0.1"),
    "port": os.environ.get("ONELOOP_TEST_PG_PORT", "5432"),
    "user": os.environ.get("ONELOOP_TEST_PG_USER", "postgres"),
}
POOL_MAX = "30"

GTHREAD_THREADS = 50
VIEW = "/one-query/?n=7"
SLEEP = 2.0
SYSTEMS = {
    "oneloop-asgi": (
        "oneloop ASGI (uvicorn, uvloop)",
        ["-m", "uvicorn", "tests.asgi.project.asgi_plain:application"],
        {},
    ),
    "stock-asgi": (
        "stock Django ASGI (uvicorn, uvloop)",
        ["-m", "uvicorn", "tests.asgi.project.asgi_stock:application"],
        {"ONELOOP_ASGI_STOCK": "1"},
    ),
    "stock-wsgi": (
        f"stock Django WSGI (gunicorn gthread, {GTHREAD_THREADS} threads)",
        ["-m", "gunicorn", "tests.asgi.project.wsgi:application"],
        {"ONELOOP_ASGI_STOCK": "1"},
    ),
}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.asgi.project.settings",
        ONELOOP_ASGI_DB_NAME=DATABASE,
        ONELOOP_ASGI_POOL_MAX=POOL_MAX,
        ONELOOP_ASGI_MIDDLEWARE="default",
        ONELOOP_TEST_PG_HOST=PG["host"],
        ONELOOP_TEST_PG_PORT=PG["port"],
        ONELOOP_TEST_PG_USER=PG["user"],
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def _admin() -> psycopg.Connection:
    return psycopg.connect(
        f"host={PG['host']} port={PG['port']} user={PG['user']} dbname=postgres",
        autocommit=True,
    )


def create_database() -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    subprocess.run(
        [sys.executable, "-m", "tests.asgi.project.prepare"],
        cwd=ROOT,
        env=_env({}),
        check=True,
        timeout=120,
    )


def drop_database() -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


class Server:
    def __init__(self, args: list[str], extra_env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if "gunicorn" in args:
            args = [
                *args,
                "-b",
                f"127.0.0.1:{self.port}",
                "-w",
                "1",
                "-k",
                "gthread",
                "--threads",
                str(GTHREAD_THREADS),
            ]
        else:
            args = [
                *args,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--loop",
                "uvloop",
                "--no-access-log",
                "--log-level",
                "warning",
            ]
        self.process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=_env(extra_env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.url}/one-query/", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"server {args} did not start") from None
                time.sleep(0.2)

    def status(self) -> dict[str, int]:
        """VmRSS (KiB) and thread count of the server process."""
        values = {}
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "Threads"):
                values[key] = int(rest.split()[0])
        return values

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


async def _in_flight(server: Server, count: int, seconds: float) -> dict[str, int]:
    """Hold ``count`` requests in flight, sample the server, let them end."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        requests = [
            asyncio.create_task(
                http.get(f"{server.url}/pg-sleep/", params={"s": seconds})
            )
            for _ in range(count)
        ]
        await asyncio.sleep(seconds / 2)
        sample = server.status()
        responses = await asyncio.gather(*requests)
    sample["ok"] = sum(r.status_code == 200 for r in responses)
    return sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument(
        "--no-save", action="store_true", help="print only: no results file, no page"
    )
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed for the throughput figures: apt-get install wrk")
    from bench import publish
    from bench.db import Target

    target = Target("postgresql", PG["host"], int(PG["port"]), PG["user"], "postgres")
    started = publish.begin(target)
    throughput, memory = [], []
    create_database()
    try:
        print(
            f"1-query sync view, wrk -c {options.connections} "
            f"-d {options.seconds}s, one worker process"
        )
        for key, (label, args, extra) in SYSTEMS.items():
            server = Server(args, extra)
            try:
                wrk(f"{server.url}{VIEW}", options.connections, 1)  # warm-up
                result = wrk(
                    f"{server.url}{VIEW}", options.connections, options.seconds
                )
            finally:
                server.stop()
            failed = result.get("socket_errors", 0) + result.get("non_2xx", 0)
            throughput.append(
                {"system": key, "label": label, **result, "failed": failed}
            )
            print(
                f"  {label:48} {result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.1f}"
                f" ms  p99 {result['p99_ms']:6.1f} ms  failed {failed}"
            )
        print(f"\nmemory with {options.in_flight} requests in flight (pg_sleep(2))")
        for key in ("oneloop-asgi", "stock-asgi"):
            label, args, extra = SYSTEMS[key]
            server = Server(args, extra)
            try:
                wrk(f"{server.url}{VIEW}", 10, 1)
                idle = server.status()
                busy = asyncio.run(_in_flight(server, options.in_flight, SLEEP))
            finally:
                server.stop()
            growth = busy["VmRSS"] - idle["VmRSS"]
            memory.append({
                "system": key, "label": label,
                "idle_rss_kib": idle["VmRSS"], "busy_rss_kib": busy["VmRSS"],
                "kib_per_request": growth / options.in_flight,
                "idle_threads": idle["Threads"], "busy_threads": busy["Threads"],
                "ok": busy["ok"],
            })  # fmt: skip
            print(
                f"  {label:48} RSS idle {idle['VmRSS'] / 1024:6.1f} MiB, in flight "
                f"{busy['VmRSS'] / 1024:6.1f} MiB (+{growth / options.in_flight:5.1f}"
                f" KiB/request), threads {idle['Threads']} -> {busy['Threads']}, "
                f"{busy['ok']}/{options.in_flight} ok"
            )
    finally:
        drop_database()
    if options.no_save:
        return
    publish.publish(
        "asgi",
        {
            "params": {
                "view": VIEW,
                "connections": options.connections,
                "seconds": options.seconds,
                "in_flight": options.in_flight,
                "sleep_s": SLEEP,
                "pool_max": int(POOL_MAX),
                "gthread_threads": GTHREAD_THREADS,
                "middleware": "startproject's",
            },
            "throughput": throughput,
            "memory": memory,
        },
        started,
    )


if __name__ == "__main__":
    main()
