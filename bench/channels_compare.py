"""Channels consumers on oneloop against stock Channels, one run, ratios.

    python -m bench.channels_compare [--sockets 100,1000] [--seconds 10]
                                     [--query-ms 50] [--no-save]

Serves the Channels test project (``tests.channels.project``: standard
routing, ``AuthMiddlewareStack``) with uvicorn, one worker process, on a
PostgreSQL database this script creates and drops, pool ``max_size`` 50.
Systems:

* ``oneloop-sync``: a sync ``WebsocketConsumer`` whose ``receive()`` runs one
  query of ``--query-ms`` (``pg_sleep``), with oneloop installed;
* ``stock-sync``: the same consumer on stock Channels (Django's backend and
  pool, handlers in asgiref's thread);
* ``stock-async``: an async consumer awaiting the same query through
  ``database_sync_to_async``, on stock Channels.

For each number of ``--sockets``, every socket sends a message, waits for
its reply and sends the next, for ``--seconds``: messages/s, and p50/p99 of
the replies received (a socket still waiting at the end is counted apart:
with stock Channels most of 1,000 never get one). Then memory per open
socket: the server's RSS growth with that many idle sockets, per socket.
Needs the test extra (the servers are started as the test suite starts
them). Results go to ``bench/results/channels-<date>.json`` and into the
table of docs/benchmarks.md (``bench.publish``); compare systems only within
one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from tests.servers import (
    ROOT,
    drop_database,
    recreate_database,
    start_uvicorn,
    stop_process,
)

DATABASE = "bench_oneloop_channels"
APP = "tests.channels.project.asgi:application"
POOL_MAX = 50
SYSTEMS = {
    "oneloop-sync": ("oneloop, sync consumer", "/ws/query/", {}),
    "stock-sync": (
        "stock Channels, sync consumer",
        "/ws/query/",
        {"ONELOOP_CHANNELS_STOCK": "1"},
    ),
    "stock-async": (
        "stock Channels, async consumer + database_sync_to_async",
        "/ws/async-database/",
        {"ONELOOP_CHANNELS_STOCK": "1"},
    ),
}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.channels.project.settings",
        ONELOOP_CHANNELS_DB="postgresql",
        ONELOOP_CHANNELS_DB_NAME=DATABASE,
        ONELOOP_CHANNELS_POOL_MAX=str(POOL_MAX),
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS line in /proc status")


async def _load(
    url: str, sockets: int, seconds: float, query_s: float
) -> dict[str, Any]:
    """Closed loop: each socket sends, waits for the reply, sends again."""
    latencies: list[float] = []
    waiting = 0
    message = json.dumps({"sleep": query_s})

    async def one(socket: Any, deadline: float) -> None:
        nonlocal waiting
        while time.monotonic() < deadline:
            started = time.monotonic()
            await socket.send(message)
            try:
                await asyncio.wait_for(socket.recv(), deadline - started + 1)
            except TimeoutError:
                waiting += 1
                return
            latencies.append(time.monotonic() - started)

    opened = await asyncio.gather(
        *(
            connect(url, origin="http://127.0.0.1", open_timeout=60)
            for _ in range(sockets)
        )
    )
    try:
        started = time.monotonic()
        await asyncio.gather(*(one(s, started + seconds) for s in opened))
        elapsed = time.monotonic() - started
    finally:
        await asyncio.gather(*(s.close() for s in opened))
    ordered = sorted(latencies)
    return {
        "messages_per_s": len(ordered) / elapsed,
        "replies": len(ordered),
        "unanswered": waiting,
        "p50_ms": 1000 * statistics.median(ordered) if ordered else None,
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))] if ordered else None,
    }


async def _memory(url: str, pid: int, sockets: int) -> float:
    """RSS growth of the server per open, idle socket, in KiB."""
    before = _rss_kib(pid)
    opened = await asyncio.gather(
        *(
            connect(url, origin="http://127.0.0.1", open_timeout=60)
            for _ in range(sockets)
        )
    )
    try:
        await asyncio.sleep(1)
        after = _rss_kib(pid)
    finally:
        await asyncio.gather(*(s.close() for s in opened))
    return (after - before) / sockets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", default="100,1000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--query-ms", type=float, default=50)
    parser.add_argument("--no-save", action="store_true", help="print only")
    options = parser.parse_args()
    from bench import publish

    machine = publish.begin()
    counts = [int(n) for n in options.sockets.split(",")]
    # The PostgreSQL server's address, as the test suite reads it.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    rows = []
    recreate_database(DATABASE)
    try:
        subprocess.run(
            [sys.executable, "-m", "tests.channels.project.prepare"],
            cwd=ROOT,
            env=_env({}),
            check=True,
            timeout=120,
        )
        for key, (label, path, extra) in SYSTEMS.items():
            with tempfile.TemporaryDirectory() as tmp:
                url, process = start_uvicorn(
                    APP,
                    env=_env(extra),
                    output=Path(tmp) / "server.out",
                    probe="/fast/",
                    options=("--ws", "websockets-sansio", "--workers", "1"),
                )
                ws_url = "ws" + url.removeprefix("http") + path
                try:
                    for count in counts:
                        result = asyncio.run(
                            _load(
                                ws_url, count, options.seconds, options.query_ms / 1000
                            )
                        )
                        result["kib_per_socket"] = asyncio.run(
                            _memory(ws_url, process.pid, count)
                        )
                        rows.append(
                            {"system": key, "label": label, "sockets": count, **result}
                        )
                        print(
                            f"{label:56} {count:5} sockets "
                            f"{result['messages_per_s']:8.1f} msg/s  "
                            f"p99 {result['p99_ms'] or float('nan'):8.1f} ms  "
                            f"unanswered {result['unanswered']:5}  "
                            f"{result['kib_per_socket']:6.1f} KiB/socket",
                            flush=True,
                        )
                finally:
                    stop_process(process, grace=10)
    finally:
        drop_database(DATABASE)
    if not options.no_save:
        params = {
            "seconds": options.seconds,
            "query_ms": options.query_ms,
            "pool_max": POOL_MAX,
        }
        publish.publish("channels", {"params": params, "rows": rows}, machine)


if __name__ == "__main__":
    main()
