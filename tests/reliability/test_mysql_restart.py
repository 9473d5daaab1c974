"""MariaDB restart mid-load, on a server of the test's own.

50 tasks write rows through the MySQL ENGINE's pool while the server is
shut down (every session ended mid-work) and started again. Writes that meet
the outage fail with Django's ``OperationalError``/``InterfaceError``, none
waits much longer than the pool timeout, every acknowledged row is there
afterwards, and once the server is back every new request succeeds without
anyone touching the application.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time

import MySQLdb
import pytest
from django.db import InterfaceError, OperationalError, connection

import oneloop
from oneloop.db.backends._pools import _pools
from oneloop.db.backends.mysql.base import DatabaseWrapper
from tests.reliability.conftest import MariaDBServer, restart_under_load, scale

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.mysql,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

CLIENTS = 50
POOL_TIMEOUT = 3.0
ALIAS = "restarted"


def _create_table(port: int) -> None:
    conn = MySQLdb.connect(host="127.0.0.1", port=port, user="root")
    try:
        cursor = conn.cursor()
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS {ALIAS}")
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {ALIAS}.written "
            "(token VARCHAR(40) PRIMARY KEY) ENGINE=InnoDB"
        )
    finally:
        conn.close()


def _written(port: int) -> set[str]:
    conn = MySQLdb.connect(host="127.0.0.1", port=port, user="root", database=ALIAS)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT token FROM written")
        return {token for (token,) in cursor.fetchall()}
    finally:
        conn.close()


async def test_restart_mid_load_errors_cleanly_and_recovers(
    mariadb_server: MariaDBServer,
) -> None:
    await asyncio.to_thread(_create_table, mariadb_server.port)
    settings = {
        **connection.settings_dict,
        "NAME": ALIAS,
        "HOST": "127.0.0.1",
        "PORT": str(mariadb_server.port),
        "OPTIONS": {"pool": {"max_size": 20, "timeout": POOL_TIMEOUT}},
    }

    def write(token: str) -> None:
        # A request: its own wrapper, a connection from the alias's pool.
        wrapper = DatabaseWrapper(settings, alias=ALIAS)
        try:
            with wrapper.cursor() as cursor:
                cursor.execute("INSERT INTO written VALUES (%s)", [token])
        finally:
            wrapper.close()

    tokens = itertools.count()
    acked: set[str] = set()
    outcomes: collections.Counter[str] = collections.Counter()
    slowest = 0.0
    stop = asyncio.Event()

    async def client() -> None:
        nonlocal slowest
        while not stop.is_set():
            token = f"restart-{next(tokens)}"
            start = time.perf_counter()
            try:
                await oneloop.run_sync(write, token)
            except (OperationalError, InterfaceError) as exc:
                outcomes[type(exc).__name__] += 1
                await asyncio.sleep(0.05)
            else:
                acked.add(token)
                outcomes["ok"] += 1
            slowest = max(slowest, time.perf_counter() - start)

    restarts = scale(1, 3)
    clients = [asyncio.create_task(client()) for _ in range(CLIENTS)]
    await restart_under_load(
        mariadb_server.stop,
        mariadb_server.start,
        lambda: outcomes["ok"],
        restarts,
        POOL_TIMEOUT,
    )
    stop.set()
    await asyncio.wait_for(asyncio.gather(*clients), 60)

    # After the restart, with nobody touching the application: every new
    # request succeeds, one at a time and all at once.
    for i in range(30):
        await oneloop.run_sync(write, f"after-{i}")
    await asyncio.gather(*(oneloop.run_sync(write, f"burst-{i}") for i in range(50)))
    # A restart while nothing runs: the pool's idle connections are dead, and
    # still the next requests succeed, each one.
    await asyncio.to_thread(mariadb_server.stop)
    await asyncio.to_thread(mariadb_server.start)
    await asyncio.sleep(0.1)
    for i in range(30):
        await oneloop.run_sync(write, f"quiet-{i}")

    lost = acked - await asyncio.to_thread(_written, mariadb_server.port)
    stats = _pools[asyncio.get_running_loop()][ALIAS].get_stats()
    report = {
        "restarts": restarts,
        "outcomes": dict(outcomes),
        "rows_acked": len(acked),
        "rows_lost": len(lost),
        "slowest_s": round(slowest, 2),
        "pool": stats,
    }
    print("mariadb restart:", report)
    assert not lost, sorted(lost)[:20]
    assert set(outcomes) - {"ok"}, "the restart was not seen"
    assert slowest < POOL_TIMEOUT + 2, report
    assert stats["pool_size"] - stats["pool_available"] == 0, report
