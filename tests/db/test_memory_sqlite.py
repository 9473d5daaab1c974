"""An in-memory SQLite database is one database for every task of a loop."""

import asyncio
import threading

import pytest
from django.db import connections, reset_queries

from oneloop import MissingBridge, run_sync
from oneloop.connections import _shares_one_connection, share_on_loop
from oneloop.db.backends.sqlite3._facade import SQLiteThread
from tests.testapp.models import Book


@pytest.mark.django_db(transaction=True, databases=["default", "memory"])
async def test_in_memory_sqlite_is_one_database_for_every_task():
    books = Book.objects.using("memory")
    await asyncio.gather(*(books.acreate(title="m", n=i) for i in range(30)))
    assert await books.acount() == 30


def test_the_loops_shared_wrapper_counts_as_initialized():
    """The loop's one wrapper is an initialized connection of every task:
    ``reset_queries()`` and ``close_old_connections()`` reach it."""

    def initialized_then_reset():
        before = connections.all(initialized_only=True)
        memory = connections["memory"]
        memory.queries_log.append({"sql": "SELECT 1", "time": "0.000"})
        after = connections.all(initialized_only=True)
        reset_queries()
        return memory in before, memory in after, len(memory.queries_log)

    # A loop of its own, whose shared wrapper no other test made.
    assert asyncio.run(run_sync(initialized_then_reset)) == (False, True, 0)


def test_share_on_loop_lends_the_wrapper_to_every_task():
    """How the live server's loop uses the test's in-memory connection; only
    a database that exists once per connection is lent."""
    lent = connections.create_connection("memory")
    other = connections.create_connection("default")
    lends_other = _shares_one_connection(other.settings_dict)

    async def main():
        def current():
            return connections["memory"], connections["default"]

        with share_on_loop({"memory": lent, "default": other}):
            during = await asyncio.gather(run_sync(current), run_sync(current))
        after = await run_sync(current)
        return during, after

    during, after = asyncio.run(main())
    assert [memory for memory, _ in during] == [lent, lent]
    assert [default is other for _, default in during] == [lends_other] * 2
    assert after[0] is not lent


def test_the_sqlite_thread_serves_a_thread_with_no_loop():
    """A connection opened in a bridge and shared with a plain thread
    (``inc_thread_sharing()``) runs its calls there too."""
    sqlite = SQLiteThread()
    try:
        results = []
        plain = threading.Thread(
            target=lambda: results.append(sqlite.call(sum, [1, 2]))
        )
        plain.start()
        plain.join()
        assert results == [3]
    finally:
        sqlite.stop()


async def test_the_sqlite_thread_refuses_the_loop_outside_a_bridge():
    sqlite = SQLiteThread()
    ran = []
    try:
        with pytest.raises(MissingBridge):
            sqlite.call(ran.append, 1)
    finally:
        sqlite.stop()
    assert ran == []
