"""Contention: many tasks fight over a few rows with ``select_for_update()``.

Each task increments one or two of ten counters in one transaction, locking
two in random order so that real deadlocks happen. PostgreSQL resolves them
by failing one transaction; that surfaces as Django's ``OperationalError``,
the test retries it, and the totals must come out exact. With 1 000 tasks
on a pool of 60, some also wait longer than the pool timeout: that too is a
clean ``OperationalError``, retried and counted.
"""

from __future__ import annotations

import asyncio
import collections
import random

import pytest
from django.db import OperationalError, connection, transaction
from psycopg import errors as pg_errors

import oneloop
from tests.reliability.conftest import scale
from tests.testapp.models import Counter

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.postgresql,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(scale(180, 900)),
]

TASKS = scale(1_000, 5_000)
COUNTERS = 10


def _increment(names: list[str]) -> None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Detect deadlocks quickly, and never wait forever on a lock.
            cursor.execute("SET LOCAL deadlock_timeout = '20ms'")
            cursor.execute("SET LOCAL lock_timeout = '30s'")
        for name in names:
            counter = Counter.objects.select_for_update().get(name=name)
            counter.value += 1
            counter.save(update_fields=["value"])


async def test_select_for_update_increments_are_exact() -> None:
    await Counter.objects.abulk_create([Counter(name=f"c{n}") for n in range(COUNTERS)])
    rnd = random.Random(2)
    plans = [
        rnd.sample([f"c{n}" for n in range(COUNTERS)], rnd.choice([1, 2]))
        for _ in range(TASKS)
    ]
    expected = collections.Counter(name for plan in plans for name in plan)
    errors: collections.Counter[str] = collections.Counter()

    async def one(plan: list[str]) -> None:
        for _attempt in range(100):
            try:
                await oneloop.run_sync(_increment, plan)
                return
            except OperationalError as exc:
                # The deadlock victim is retried, and so is a task that waited
                # longer than the pool timeout behind the lock queue (1 000
                # tasks share 60 connections); any other error fails the test.
                if isinstance(exc.__cause__, pg_errors.DeadlockDetected):
                    errors["DeadlockDetected"] += 1
                elif "No connection for database alias 'default'" in str(exc):
                    errors["pool timeout"] += 1
                else:
                    raise
        raise AssertionError(f"{plan} still deadlocked after 100 attempts")

    start = asyncio.get_running_loop().time()
    await asyncio.wait_for(asyncio.gather(*(one(p) for p in plans)), scale(150, 800))
    elapsed = asyncio.get_running_loop().time() - start
    totals = {c.name: c.value async for c in Counter.objects.all()}
    print(f"contention: {TASKS} tasks in {elapsed:.1f} s, retried {dict(errors)}")
    assert totals == dict(expected)
    assert errors["DeadlockDetected"] > 0, "no deadlock happened: nothing tested"
