"""Cancellation storm: thousands of tasks cancelled at random points, then
an audit of the pool, the server and the rows against a ledger, on
PostgreSQL and on MariaDB/MySQL.

Each task runs one of five kinds of work (outside ``atomic``; ``atomic``;
nested ``atomic``; ``atomic`` whose ``on_commit`` callback does IO; ``atomic``
whose child tasks write on the parent's connection) and is cancelled after a
random delay: before it starts, while it waits for a pooled connection,
during a query, during the commit, during ``on_commit``, or after it is done.

The ledger is written by the sync code itself, with no ``await_`` between
the event and the record, so it cannot be torn by the cancellation:

* ``attempted``: the last statement inside the outermost ``atomic`` ran, so
  the commit may have started;
* ``committed``: an ``on_commit`` callback ran, so the commit succeeded.

A task that was cancelled *during* the commit is in doubt (attempted, not
committed): its rows may or may not exist, but never half of them.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import random

import MySQLdb
import psycopg
import pytest
from django.db import connection, transaction

import oneloop
from oneloop.db.backends._pools import _pools
from tests.mysql_server import OPEN_TRANSACTIONS
from tests.reliability.conftest import LONG, scale, server_activity
from tests.testapp.models import Book

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(scale(180, 1800)),
]

TASKS = scale(1_000, 10_000)
AT_ONCE = 200  # in flight at a time: more than the pool holds (60)
KINDS = ("plain", "atomic", "nested", "on_commit_io", "children")


@dataclasses.dataclass
class Ledger:
    attempted: set[int] = dataclasses.field(default_factory=set)
    committed: set[int] = dataclasses.field(default_factory=set)
    audited: set[int] = dataclasses.field(default_factory=set)
    outcomes: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )


def _nap(seconds: float) -> None:
    sleep = "pg_sleep" if connection.vendor == "postgresql" else "SLEEP"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sleep}(%s)", [seconds])


def _work(i: int, ledger: Ledger) -> None:
    kind = KINDS[i % len(KINDS)]
    rnd = random.Random(i)
    if kind == "plain":
        _nap(rnd.random() / 50)
        list(Book.objects.filter(n=i)[:1])
        return
    with transaction.atomic():
        Book.objects.create(title=f"storm-{i}-a", n=i)
        if kind == "nested":
            with transaction.atomic():
                Book.objects.create(title=f"storm-{i}-b", n=i)
                _nap(rnd.random() / 50)
        elif kind == "children":
            # Children inside atomic run on this task's connection.
            oneloop.gather(
                lambda: Book.objects.create(title=f"storm-{i}-b", n=i),
                functools.partial(_nap, rnd.random() / 50),
            )
        else:
            _nap(rnd.random() / 50)
            Book.objects.create(title=f"storm-{i}-b", n=i)
        if kind == "on_commit_io":
            transaction.on_commit(functools.partial(_audit, i, ledger))
        else:
            transaction.on_commit(functools.partial(ledger.committed.add, i))
        ledger.attempted.add(i)  # last statement: the commit comes next


def _audit(i: int, ledger: Ledger) -> None:
    """An ``on_commit`` callback with IO of its own (autocommit)."""
    ledger.committed.add(i)
    _nap(0.005)
    Book.objects.create(title=f"storm-{i}-audit", n=i)
    ledger.audited.add(i)


async def _cancelled_at_random(i: int, ledger: Ledger) -> None:
    task = asyncio.create_task(oneloop.run_sync(_work, i, ledger))
    delay = random.choice([0.0, random.random() / 20, random.random() / 8])
    if delay:
        await asyncio.sleep(delay)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        ledger.outcomes["cancelled"] += 1
    except Exception as exc:
        ledger.outcomes[f"{type(exc).__module__}.{type(exc).__qualname__}"] += 1
    else:
        ledger.outcomes["completed"] += 1


def _pool_stats() -> dict[str, int]:
    return _pools[asyncio.get_running_loop()]["default"].get_stats()


async def _storm() -> Ledger:
    ledger = Ledger()
    random.seed(9)
    for start in range(0, TASKS, AT_ONCE):
        await asyncio.gather(
            *(
                _cancelled_at_random(i, ledger)
                for i in range(start, min(start + AT_ONCE, TASKS))
            )
        )
    return ledger


@pytest.mark.postgresql
async def test_cancellation_storm_leaves_nothing_behind() -> None:
    ledger = await _storm()

    dsn = (
        f"host={connection.settings_dict['HOST']} "
        f"port={connection.settings_dict['PORT']} "
        f"user={connection.settings_dict['USER']} "
        f"dbname={connection.settings_dict['NAME']}"
    )
    # Connections of cancelled tasks go back from their done callbacks.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        await asyncio.sleep(0.05)
        stats = _pool_stats()
        activity = await asyncio.to_thread(server_activity, dsn)
        checked_out = stats["pool_size"] - stats["pool_available"]
        busy = activity.get("active", 0) + activity.get("idle in transaction", 0)
        if (checked_out == 0 and busy == 0) or loop.time() > deadline:
            break

    rows: dict[int, set[str]] = collections.defaultdict(set)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT n, title FROM testapp_book WHERE title LIKE 'storm-%%'"
        )
        for n, title in await cursor.fetchall():
            rows[n].add(title.rsplit("-", 1)[1])

    report = {"checked_out": checked_out, "server": activity, "pool": stats}
    _assert_ledger(ledger, rows, report)
    assert checked_out == 0, report
    assert stats["requests_waiting"] == 0, report
    assert not activity.get("idle in transaction"), report
    assert not activity.get("active"), report


def _assert_ledger(
    ledger: Ledger, rows: dict[int, set[str]], report: dict[str, object]
) -> None:
    """Every committed transaction's rows are there, whole; no row of a
    transaction that never reached its commit is."""
    present = set(rows)
    torn = {i: parts for i, parts in rows.items() if not {"a", "b"} <= parts}
    lost = ledger.committed - present
    phantom = present - ledger.attempted
    audits = {i for i, parts in rows.items() if "audit" in parts}
    in_doubt = ledger.attempted - ledger.committed
    report = {
        **report,
        "tasks": TASKS,
        "long": LONG,
        "outcomes": dict(ledger.outcomes),
        "committed": len(ledger.committed),
        "in_doubt": len(in_doubt),
        "in_doubt_present": len(in_doubt & present),
        "rows_lost": len(lost),
        "uncommitted_present": len(phantom),
        "torn": len(torn),
    }
    print("cancellation storm:", report)
    assert set(ledger.outcomes) <= {"cancelled", "completed"}, report
    assert ledger.outcomes["cancelled"] > TASKS // 2, report
    assert not lost, sorted(lost)[:20]
    assert not phantom, sorted(phantom)[:20]
    assert not torn, dict(list(torn.items())[:20])
    # A transaction that committed ran its on_commit callbacks, even when the
    # cancellation landed during the COMMIT.
    assert not in_doubt & present, sorted(in_doubt & present)[:20]
    assert ledger.audited <= audits <= ledger.committed


def _mysql_audit(
    settings: dict[str, object],
) -> tuple[dict[str, int], set[int], list[tuple]]:
    """From a connection of its own (mysqlclient): what the server still runs
    for the test database (sessions by command, SLEEPs, open transactions),
    the ids of those sessions, and the storm's rows."""
    conn = MySQLdb.connect(
        host=settings["HOST"],
        port=int(settings["PORT"]),
        user=settings["USER"],
        database=settings["NAME"],
    )
    try:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT ID, COMMAND FROM information_schema.PROCESSLIST "
            "WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
        )
        sessions = cursor.fetchall()
        server = dict(collections.Counter(command for _, command in sessions))
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
            "WHERE DB = DATABASE() AND INFO LIKE 'SELECT SLEEP%%'"
        )
        server["sleeping"] = cursor.fetchone()[0]
        cursor.execute(OPEN_TRANSACTIONS)
        server["open_transactions"] = cursor.fetchone()[0]
        cursor.execute("SELECT n, title FROM testapp_book WHERE title LIKE 'storm-%%'")
        return server, {id_ for id_, _ in sessions}, list(cursor.fetchall())
    finally:
        conn.close()


def _pool_sessions() -> set[int]:
    """Server session ids of the pool's connections (all idle by then)."""
    pool = _pools.get(asyncio.get_running_loop(), {}).get("default")
    return {aconn.thread_id() for aconn in pool._idle} if pool else set()


@pytest.mark.mysql
async def test_cancellation_storm_on_mysql_leaves_nothing_behind() -> None:
    # Sessions that were there before (the test's own, earlier pools').
    _, before, _ = await asyncio.to_thread(_mysql_audit, connection.settings_dict)
    ledger = await _storm()
    # Connections of cancelled tasks go back (or are killed) from their
    # done callbacks.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        await asyncio.sleep(0.05)
        stats = _pool_stats()
        server, sessions, found = await asyncio.to_thread(
            _mysql_audit, connection.settings_dict
        )
        checked_out = stats["pool_size"] - stats["pool_available"]
        busy = server.get("Query", 0) + server["sleeping"] + server["open_transactions"]
        if (checked_out == 0 and busy == 0) or loop.time() > deadline:
            break
    rows: dict[int, set[str]] = collections.defaultdict(set)
    for n, title in found:
        rows[n].add(title.rsplit("-", 1)[1])
    leaked = sessions - before - _pool_sessions()
    report = {
        "checked_out": checked_out,
        "server": server,
        "pool": stats,
        "leaked_sessions": len(leaked),
    }
    _assert_ledger(ledger, rows, report)
    assert checked_out == 0, report
    assert stats["requests_waiting"] == 0, report
    assert server["open_transactions"] == 0, report
    assert server["sleeping"] == 0, report
    assert not server.get("Query"), report
    # No session was leaked: every one left is the pool's, or was there before.
    assert not leaked, report
