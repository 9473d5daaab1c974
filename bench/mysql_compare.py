"""The suite's P1 and P2 on MariaDB (or MySQL): oneloop's MySQL ENGINE
against Django's, side by side in one run.

    python -m bench.mysql_compare [--quick] [--no-save]

Uses MariaDB/MySQL at ``BENCH_MYSQL_HOST``/``PORT``/``USER`` (default
root@127.0.0.1:3306) and creates and fills its own database,
``BENCH_MYSQL_NAME`` (default ``oneloop_bench``), as the suite does on
PostgreSQL (``bench.db.prepare``). Measured with the suite's own code:

* P1 (``bench.inproc``): the indexed lookup, stock ``first()`` and
  ``afirst()`` (Django's ENGINE on mysqlclient) against oneloop's
  ``afirst()`` and its sync ``first()`` in ``run_sync`` (oneloop's ENGINE on
  asyncmy), and the same SQL on a raw connection of each driver; µs per
  call, each system in its own interpreter.
* P2 (``bench.suite``'s load test, the suite's servers): one query per
  request that waits 50 ms in the database (``SLEEP(0.05)`` in the lookup),
  at 100 clients, one worker process each: gunicorn gthread WSGI, stock
  Django ASGI (sync and async view), oneloop (sync and async view).

The durations are the suite's full mode (``--quick``: its quick mode). The
results go to ``bench/results/mysql-<date>.json`` and the MariaDB block of
docs/benchmarks.md (``bench.publish``); compare systems only within one run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bench.db import Target, choose_target, prepare
from bench.inproc import measure
from bench.servers import SYSTEMS, Server
from bench.suite import Mode, _log, _scenario_http, served

P1_SYSTEMS = (
    "stock-sync",
    "stock-async",
    "oneloop-async",
    "oneloop-sync",
    "mysqlclient-sync",
    "asyncmy-async",
)
P2_SYSTEMS = ("wsgi", "asgi-sync", "asgi-async", "oneloop-sync", "oneloop-async")
P2_CLIENTS = 100
POOL = 80
"""Database connections of each P2 server: the suite's budget for one worker
(oneloop's pool; one per gthread thread under WSGI)."""


def server_version(target: Target) -> str:
    """``MariaDB 10.11.6`` or ``MySQL 8.0.36``: what the figures ran on."""
    import MySQLdb

    conn = MySQLdb.connect(host=target.host, port=target.port, user=target.user)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT VERSION()")
        version = cursor.fetchone()[0]
    finally:
        conn.close()
    product = "MariaDB" if "mariadb" in version.lower() else "MySQL"
    return f"{product} {version.split('-')[0]}"


def p1(mode: Mode, target: Target) -> dict[str, Any]:
    """µs per indexed lookup of every P1 system."""
    out = {}
    for system in P1_SYSTEMS:
        _log(f"P1 {system}")
        out[system] = measure(
            "latency", system, target, calls=mode.p1_calls, repeats=mode.p1_repeats
        )
    return out


def p2(mode: Mode, target: Target) -> list[dict[str, Any]]:
    """One wrk row per P2 system at :data:`P2_CLIENTS` clients."""
    mode = dataclasses.replace(mode, p2_clients=(P2_CLIENTS,))
    return [row for name in P2_SYSTEMS for row in _p2_system(name, mode, target)]


def _p2_system(name: str, mode: Mode, target: Target) -> list[dict[str, Any]]:
    system = SYSTEMS[name]
    base = {"system": name, "label": system.label, "config": system.config(1, POOL)}
    server = Server(system, 1, POOL, target)
    _log(f"P2 {name}")
    return served(
        server,
        f"P2 {name}",
        lambda: [{**base, **row} for row in _scenario_http(server, mode, "P2")],
        lambda error: [{**base, "error": error}],
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.mysql_compare``."""
    from bench import publish

    mode, save = publish.comparison_mode("python -m bench.mysql_compare", __doc__, argv)
    target = choose_target("mysql")
    started = publish.begin()
    version = server_version(target)
    _log(f"{mode.name} durations on {version} at {target.host}:{target.port}")
    prepare(target)
    data = {
        "params": {
            "mode": mode.name,
            "seconds": mode.seconds,
            "warmup": mode.warmup,
            "calls": mode.p1_calls,
            "repeats": mode.p1_repeats,
            "clients": P2_CLIENTS,
            "pool": POOL,
            "server_version": version,
        },
        "P1": p1(mode, target),
        "P2": p2(mode, target),
    }
    publish.finish("mysql", data, started, save)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
