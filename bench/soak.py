"""Soak: serve the reliability project under steady load and record health.

    python -m bench.soak --minutes 10 --concurrency 200

Creates a database of its own on the PostgreSQL server of the environment
(``ONELOOP_TEST_PG_HOST``/``PORT``/``USER``, default 127.0.0.1:5432 postgres),
starts ``uvicorn tests.reliability.project.asgi`` on 127.0.0.1, and runs
``--concurrency`` clients doing a mix of writes, reads and health checks.
Every 10 s it records the server's RSS, open file descriptors, tasks and
pool statistics, and the requests done and failed, into
``docs/reliability-soak.json`` and a plot in ``docs/img/reliability-soak.png``.
Leaks show as a rising line; the run fails (exit 1) if connections stay
checked out after the load stops.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
PG_HOST = os.environ.get("ONELOOP_TEST_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("ONELOOP_TEST_PG_PORT", "5432")
PG_USER = os.environ.get("ONELOOP_TEST_PG_USER", "postgres")
DATABASE = "oneloop_soak"


def _admin(sql: str) -> None:
    dsn = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


def _start_server(pool_max: int, log: Path) -> tuple[subprocess.Popen, str]:
    sys.path.insert(0, str(ROOT))
    from tests.reliability.conftest import prepare_database, start_project_server

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.reliability.project.settings",
        ONELOOP_REL_DB_NAME=DATABASE,
        ONELOOP_REL_PG_HOST=PG_HOST,
        ONELOOP_REL_PG_PORT=PG_PORT,
        ONELOOP_REL_PG_USER=PG_USER,
        ONELOOP_REL_POOL_MAX=str(pool_max),
        ONELOOP_REL_POOL_TIMEOUT="10",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    prepare_database(env)
    server = start_project_server(env, log)
    return server.process, server.url


async def _load(
    url: str, concurrency: int, seconds: float, interval: float
) -> list[dict[str, Any]]:
    counts: collections.Counter[str] = collections.Counter()
    samples: list[dict[str, Any]] = []
    tokens = itertools.count()
    stop = asyncio.Event()
    in_flight = 0

    async def client(i: int) -> None:
        # One keep-alive connection per client, as browsers and services
        # hold them. (A shared httpx pool of 200 connections spends its time
        # on its own bookkeeping and leaves the server nearly idle.)
        nonlocal in_flight
        connection: _Connection | None = None
        while not stop.is_set():
            n = next(tokens)
            kind = n % 4
            if kind == 0:
                target = f"/write/?token=soak-{n}"
            elif kind == 1:
                target = f"/lookup/?q=Book+{n % 100}"
            elif kind == 2:
                target = f"/increment/?name=c{n % 10}"
            else:
                target = "/health/"
            in_flight += 1
            try:
                if connection is None:
                    connection = await _Connection.open(url)
                status = await asyncio.wait_for(connection.get(target), 60)
                counts[str(status)] += 1
            except (OSError, EOFError, TimeoutError) as exc:
                counts[type(exc).__name__] += 1
                if connection is not None:
                    connection.close()
                connection = None
            finally:
                in_flight -= 1
        if connection is not None:
            connection.close()

    async def sample(http: httpx.AsyncClient, start: float) -> None:
        in_flight_now = in_flight
        stats = (await http.get("/stats/")).json()
        samples.append(
            {
                "t": round(time.monotonic() - start, 1),
                **stats,
                "client_in_flight": in_flight_now,
                "requests": dict(counts),
            }
        )
        print(json.dumps(samples[-1]), flush=True)

    async def sampler(http: httpx.AsyncClient, start: float) -> None:
        while not stop.is_set():
            await sample(http, start)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        start = time.monotonic()
        sampling = asyncio.create_task(sampler(http, start))
        clients = [asyncio.create_task(client(i)) for i in range(concurrency)]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*clients, sampling)
        await asyncio.sleep(1)  # connections of the last requests go back
        await sample(http, start)  # the state after the load
    return samples


class _Connection:
    """A minimal HTTP/1.1 keep-alive client connection (GET, Content-Length
    bodies: what the project's views answer)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> _Connection:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def get(self, target: str) -> int:
        """Send ``GET target``, read the whole response, return its status."""
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: soak\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        )
        await self.reader.readexactly(length)
        if any(line.lower() == "connection: close" for line in lines):
            raise EOFError("the server closed the connection")
        return status

    def close(self) -> None:
        self.writer.close()


def _plot(samples: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    axes[0].plot(t, [s["rss_kib"] / 1024 for s in samples])
    axes[0].set_ylabel("RSS (MiB)")
    axes[1].plot(t, [s["fds"] for s in samples], label="open fds")
    axes[1].plot(t, [s["tasks"] for s in samples], label="asyncio tasks")
    axes[1].legend()
    pools = [s["pool"] or {} for s in samples]
    axes[2].plot(t, [p.get("pool_size", 0) for p in pools], label="pool size")
    axes[2].plot(
        t,
        [p.get("pool_size", 0) - p.get("pool_available", 0) for p in pools],
        label="checked out",
    )
    axes[2].plot(t, [p.get("requests_waiting", 0) for p in pools], label="waiting")
    axes[2].legend()
    axes[2].set_xlabel("seconds")
    fig.suptitle("oneloop soak: reliability project under steady load")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--pool-max", type=int, default=20)
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument(
        "--json", type=Path, default=ROOT / "docs/reliability-soak.json"
    )
    parser.add_argument(
        "--plot", type=Path, default=ROOT / "docs/img/reliability-soak.png"
    )
    args = parser.parse_args()

    _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{DATABASE}"')
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "oneloop-soak-server.log"
    process, url = _start_server(args.pool_max, log)
    try:
        samples = asyncio.run(
            _load(url, args.concurrency, args.minutes * 60, args.interval)
        )
    finally:
        process.terminate()
        process.wait(30)
        _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    result = {
        "minutes": args.minutes,
        "concurrency": args.concurrency,
        "pool_max": args.pool_max,
        "samples": samples,
    }
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    _plot(samples, args.plot)
    last = samples[-1]["pool"] or {}
    leaked = last.get("pool_size", 0) - last.get("pool_available", 0)
    print(
        f"RSS {samples[0]['rss_kib']} -> {samples[-1]['rss_kib']} KiB, "
        f"fds {samples[0]['fds']} -> {samples[-1]['fds']}, "
        f"checked out at the end: {leaked}, requests: {samples[-1]['requests']}"
    )
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
