"""Cancellation storm: thousands of tasks cancelled at random points, then
an audit of the pool, the server and the rows against a ledger.

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

import psycopg
import pytest
from django.db import connection, transaction

import oneloop
from oneloop.db.backends._pools import _pools
from tests.reliability.conftest import LONG, scale, server_activity
from tests.testapp.models import Book

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.postgresql,
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
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])


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
    return _pools[asyncio.get_running_loop()]["default"].pool.get_stats()


async def test_cancellation_storm_leaves_nothing_behind() -> None:
    ledger = Ledger()
    random.seed(9)
    for start in range(0, TASKS, AT_ONCE):
        await asyncio.gather(
            *(
                _cancelled_at_random(i, ledger)
                for i in range(start, min(start + AT_ONCE, TASKS))
            )
        )

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

    present = set(rows)
    torn = {i: parts for i, parts in rows.items() if not {"a", "b"} <= parts}
    lost = ledger.committed - present
    phantom = present - ledger.attempted
    audits = {i for i, parts in rows.items() if "audit" in parts}
    in_doubt = ledger.attempted - ledger.committed
    report = {
        "tasks": TASKS,
        "long": LONG,
        "outcomes": dict(ledger.outcomes),
        "committed": len(ledger.committed),
        "in_doubt": len(in_doubt),
        "in_doubt_present": len(in_doubt & present),
        "rows_lost": len(lost),
        "uncommitted_present": len(phantom),
        "torn": len(torn),
        "checked_out": checked_out,
        "server": activity,
        "pool": stats,
    }
    print("cancellation storm:", report)
    assert set(ledger.outcomes) <= {"cancelled", "completed"}, report
    assert ledger.outcomes["cancelled"] > TASKS // 2, report
    assert checked_out == 0, report
    assert stats["requests_waiting"] == 0, report
    assert not activity.get("idle in transaction"), report
    assert not activity.get("active"), report
    assert not lost, sorted(lost)[:20]
    assert not phantom, sorted(phantom)[:20]
    assert not torn, dict(list(torn.items())[:20])
    # A transaction that committed ran its on_commit callbacks, even when the
    # cancellation landed during the COMMIT.
    assert not in_doubt & present, sorted(in_doubt & present)[:20]
    assert ledger.audited <= audits <= ledger.committed
