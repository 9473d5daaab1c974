"""The connection rules under concurrency, on a real PostgreSQL server and on
a SQLite file database. The tests that look at PostgreSQL's own view of its
backends (pg_backend_pid, pg_stat_activity, server-side cancel, the pool) are
marked PostgreSQL-only."""

import asyncio
import random
import threading
import time

import pytest
from django.db import connection, transaction

import oneloop
from tests.db.conftest import cancel_mid_query
from tests.testapp.models import Book

pytestmark = pytest.mark.django_db(transaction=True)


def slow_lookup(n: int, sleep_sql: str) -> int | None:
    """A 0.2 s wait in the database, then an ORM query."""
    with connection.cursor() as cursor:
        cursor.execute(sleep_sql, [0.2])
    book = Book.objects.filter(n=n).first()
    return book and book.n


def assert_on_the_loop_thread(query_threads, driver_threads, new_threads) -> None:
    """Django made every query from the loop's thread (on PostgreSQL the
    driver ran them there too), and no worker thread was started."""
    loop_thread = threading.get_ident()
    assert query_threads.threads, "no query was recorded"
    assert set(query_threads.threads) == {loop_thread}
    assert driver_threads, "no driver call was recorded"
    if connection.vendor in ("postgresql", "mysql"):
        # The async driver (psycopg, asyncmy) is awaited on the loop itself.
        assert set(driver_threads) == {loop_thread}
    else:
        # sqlite3 has no async API: each connection's own thread runs its
        # calls while the loop goes on (those threads are the ENGINE's, by
        # design, and new_threads() leaves them out).
        assert loop_thread not in driver_threads
    assert not new_threads(), "a thread was started"
    assert asyncio.get_running_loop()._default_executor is None, (
        "the loop's executor was used"
    )


async def test_twenty_slow_queries_run_concurrently_on_one_thread(
    sleep_sql, query_threads, driver_threads, new_threads
):
    await Book.objects.abulk_create([Book(title="b", n=i) for i in range(20)])
    start = time.perf_counter()
    results = await asyncio.gather(
        *(oneloop.run_sync(slow_lookup, i, sleep_sql) for i in range(20))
    )
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"20 x 0.2 s took {elapsed:.2f} s"
    assert results == list(range(20))
    assert_on_the_loop_thread(query_threads, driver_threads, new_threads)


@pytest.mark.postgresql
async def test_children_outside_atomic_run_on_their_own_backends():
    barrier = asyncio.Barrier(5)

    def child():
        pid = connection.cursor().execute("SELECT pg_backend_pid()").fetchone()[0]
        # Hold the connection until every child holds one.
        oneloop.await_(barrier.wait())
        return pid, Book.objects.count()

    def view():
        return oneloop.gather(*[child] * 5)

    results = await oneloop.run_sync(view)
    assert len({pid for pid, _ in results}) == 5


async def test_gather_from_sync_code_in_a_bridge(
    sleep_sql, query_threads, driver_threads, new_threads
):
    await Book.objects.abulk_create([Book(title="b", n=i) for i in range(20)])

    def view():
        return oneloop.gather(
            *(lambda i=i: slow_lookup(i, sleep_sql) for i in range(20))
        )

    start = time.perf_counter()
    results = await oneloop.run_sync(view)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"20 x 0.2 s took {elapsed:.2f} s"
    assert results == list(range(20))
    assert_on_the_loop_thread(query_threads, driver_threads, new_threads)


@pytest.mark.postgresql
async def test_children_share_the_parents_transaction():
    def parent():
        with transaction.atomic():
            Book.objects.create(title="uncommitted", n=7)
            own_pid = connection.cursor().execute("SELECT pg_backend_pid()")
            own_pid = own_pid.fetchone()[0]

            def child():
                pid = connection.cursor().execute("SELECT pg_backend_pid()")
                return pid.fetchone()[0], Book.objects.filter(n=7).exists()

            return own_pid, oneloop.gather(child, child, child)

    own_pid, children = await oneloop.run_sync(parent)
    assert children == [(own_pid, True)] * 3


@pytest.fixture
def sqlite_writers_wait_longer(monkeypatch):
    """On SQLite, concurrent transactions take the database's one write lock
    in turn. A writer that finds it taken waits in SQLite's busy handler, in
    its connection's own thread (the loop keeps running the holder to its
    COMMIT), for at most sqlite3's default timeout of 5 s; with 50 writers the
    unluckiest one can wait more than 3 s on a busy machine. An application
    with that many concurrent writers raises the timeout with Django's
    OPTIONS["timeout"]; so does this test, for the connections it opens.
    transaction_mode "IMMEDIATE" is not needed: each transaction writes
    first, so none holds a read lock it would have to upgrade (the deadlock
    that SQLite reports at once instead of waiting)."""
    if connection.vendor == "sqlite":
        monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 30)


@pytest.mark.usefixtures("sqlite_writers_wait_longer")
async def test_fifty_transactions_keep_exactly_the_committed_rows():
    class Rollback(Exception):
        pass

    async def one(i: int) -> None:
        try:
            async with oneloop.atomic():
                await Book.objects.acreate(title=f"t{i}", n=i)
                await asyncio.sleep(random.random() / 50)  # interleave
                await Book.objects.acreate(title=f"t{i}-second", n=i)
                if i % 2:
                    raise Rollback
        except Rollback:
            pass

    await asyncio.gather(*(one(i) for i in range(50)))
    kept = sorted({n async for n in Book.objects.values_list("n", flat=True)})
    assert kept == list(range(0, 50, 2))
    assert await Book.objects.acount() == 50


def _server_activity() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT state, count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' GROUP BY state"
        )
        return dict(cursor.fetchall())


def _backend_state(pid: int) -> str | None:
    """The state of server backend ``pid``: ``"ours"`` when it is the one
    asking (the pool handed it to this task), ``None`` once it has ended."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN pid = pg_backend_pid() THEN 'ours' ELSE state END "
            "FROM pg_stat_activity WHERE pid = %s",
            [pid],
        )
        row = cursor.fetchone()
    return row and row[0]


def _pool_stats() -> dict[str, int]:
    return connection.pool.pool.get_stats()


async def _wait_for_pool_to_take_back(pid: int) -> None:
    """Wait until every connection but the test's own is back in the pool
    (a finished task gives its connections back asynchronously), then check
    that the one of backend ``pid`` was given back, not closed: its backend
    is alive and idle, or is the one the pool has since handed to this test."""
    for _ in range(50):
        stats = await oneloop.run_sync(_pool_stats)
        state = await oneloop.run_sync(_backend_state, pid)
        if stats["pool_available"] == stats["pool_size"] - 1 and state in (
            "idle",
            "ours",
        ):
            break
        await asyncio.sleep(0.05)
    # One connection is checked out: the one this test itself is using.
    assert stats["pool_available"] == stats["pool_size"] - 1, stats
    assert not stats.get("returns_bad"), stats
    assert state in ("idle", "ours"), state


@pytest.mark.postgresql
async def test_cancelled_query_stops_on_server_and_rolls_back():
    started = asyncio.Event()
    pids = []

    def long_query():
        with transaction.atomic():
            Book.objects.create(title="never committed", n=1)
            pid = connection.cursor().execute("SELECT pg_backend_pid()")
            pids.append(pid.fetchone()[0])
            started_loop.call_soon_threadsafe(started.set)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(5)")

    started_loop = asyncio.get_running_loop()
    cancelled_at = await cancel_mid_query(long_query, started)
    await asyncio.sleep(0)  # let the finished task give its connection back
    deadline = cancelled_at + 1.0
    while True:
        activity = await oneloop.run_sync(_server_activity)
        if not activity.get("active") and not activity.get("idle in transaction"):
            break
        assert time.perf_counter() < deadline, activity
        await asyncio.sleep(0.05)
    assert not await Book.objects.filter(n=1).aexists()
    # The connection of the cancelled task went back to the pool, reusable.
    await _wait_for_pool_to_take_back(pids[0])


def _autocommit_off() -> None:
    transaction.set_autocommit(False)


def _atomic_never_exited() -> None:
    transaction.atomic().__enter__()


LEAVE_A_TRANSACTION_OPEN = pytest.mark.parametrize(
    "leave_open",
    [_autocommit_off, _atomic_never_exited],
    ids=["set_autocommit(False)", "atomic() entered, never exited"],
)


@LEAVE_A_TRANSACTION_OPEN
async def test_task_ending_inside_a_transaction_gives_its_connection_back_rolled_back(
    leave_open,
):
    def insert_and_return():
        leave_open()
        Book.objects.create(title="left open", n=1)

    await asyncio.create_task(oneloop.run_sync(insert_and_return))
    # A new task can write: on SQLite the finished task's transaction no
    # longer holds the database's write lock.
    await asyncio.create_task(oneloop.run_sync(Book.objects.create, title="b", n=2))
    assert [n async for n in Book.objects.values_list("n", flat=True)] == [2]


@pytest.mark.postgresql
@LEAVE_A_TRANSACTION_OPEN
async def test_task_ending_inside_a_transaction_leaves_no_idle_in_transaction_backend(
    leave_open,
):
    def insert_and_return():
        leave_open()
        Book.objects.create(title="left open", n=1)
        return connection.cursor().execute("SELECT pg_backend_pid()").fetchone()[0]

    pid = await asyncio.create_task(oneloop.run_sync(insert_and_return))
    await _wait_for_pool_to_take_back(pid)
    activity = await oneloop.run_sync(_server_activity)
    assert not activity.get("idle in transaction"), activity
    assert not await Book.objects.filter(n=1).aexists()


@pytest.mark.postgresql
async def test_two_hundred_random_cancellations_leave_nothing_behind():
    await Book.objects.acreate(title="seed", n=0)

    def work(i: int) -> None:
        if i % 3 == 0:
            with transaction.atomic():
                Book.objects.create(title="x", n=1000 + i)
                connection.cursor().execute(
                    "SELECT pg_sleep(%s)", [random.random() / 20]
                )
                Book.objects.filter(n=1000 + i).update(title="y")
        elif i % 3 == 1:
            connection.cursor().execute("SELECT pg_sleep(%s)", [random.random() / 20])
        else:
            list(Book.objects.all()[:5])

    async def cancelled_later(i: int) -> None:
        task = asyncio.create_task(oneloop.run_sync(work, i))
        await asyncio.sleep(random.random() / 30)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    for _ in range(4):
        await asyncio.gather(*(cancelled_later(i) for i in range(50)))
    for _ in range(50):  # connections of cancelled tasks go back asynchronously
        stats = await oneloop.run_sync(_pool_stats)
        activity = await oneloop.run_sync(_server_activity)
        if stats["pool_available"] == stats["pool_size"] - 1 and not (
            activity.get("active") or activity.get("idle in transaction")
        ):
            break
        await asyncio.sleep(0.05)
    # One connection is checked out: the one this test itself is using.
    assert stats["pool_available"] == stats["pool_size"] - 1, stats
    assert not activity.get("idle in transaction"), activity
    assert not activity.get("active"), activity
    # Rows of transactions that were cancelled before commit are absent;
    # every committed one was updated in the same transaction.
    assert not await Book.objects.filter(n__gte=1000, title="x").aexists()
