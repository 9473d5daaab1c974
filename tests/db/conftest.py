"""Fixtures of the database tests: where queries run, which threads start,
and a query that waits in the database on either backend."""

import asyncio
import threading
import time
from collections.abc import Callable

import psycopg
import pytest
from django.db import connection, connections
from django.db.backends.signals import connection_created

import oneloop


class QueryThreads:
    """Records the thread of every query run through Django's cursor, on
    every connection made while it is active."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def __call__(self, execute, sql, params, many, context):
        self.threads.append(threading.get_ident())
        return execute(sql, params, many, context)

    def on_connect(self, sender, connection, **kwargs):
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)


@pytest.fixture
def query_threads():
    recorder = QueryThreads()
    # Connections made from now on, and this thread's own (which tests pin
    # for an in-memory SQLite database).
    connection_created.connect(recorder.on_connect)
    existing = connections.all()
    for conn in existing:
        conn.execute_wrappers.append(recorder)
    yield recorder
    connection_created.disconnect(recorder.on_connect)
    for conn in existing:
        conn.execute_wrappers.remove(recorder)


@pytest.fixture
def driver_threads(monkeypatch):
    """Records the thread of every statement the database driver executes:
    psycopg's async cursor on PostgreSQL; on MySQL, every call the ENGINE's
    facade awaits on asyncmy; on SQLite, sqlite3's trace callback, which
    runs in the thread executing the statement."""
    threads: list[int] = []

    if connection.vendor == "mysql":
        from oneloop.db.backends.mysql._facade import ConnectionFacade

        io = ConnectionFacade.io

        def recording_io(self, awaitable):
            async def awaited():
                threads.append(threading.get_ident())
                return await awaitable

            return io(self, awaited())

        monkeypatch.setattr(ConnectionFacade, "io", recording_io)
        yield threads
        return

    if connection.vendor == "postgresql":
        execute = psycopg.AsyncCursor.execute

        async def recording_execute(self, *args, **kwargs):
            threads.append(threading.get_ident())
            return await execute(self, *args, **kwargs)

        monkeypatch.setattr(psycopg.AsyncCursor, "execute", recording_execute)
        yield threads
        return

    def trace(statement):
        threads.append(threading.get_ident())

    def on_connect(sender, connection, **kwargs):
        connection.connection.set_trace_callback(trace)

    connection_created.connect(on_connect)
    yield threads
    connection_created.disconnect(on_connect)


def _sleep(seconds: float) -> int:
    time.sleep(seconds)
    return 1


def _register_sleep(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.create_function("oneloop_sleep", 1, _sleep)


@pytest.fixture
def sleep_sql():
    """SQL of a query that waits ``%s`` seconds in the database: pg_sleep()
    on PostgreSQL, SLEEP() on MySQL; on SQLite, ``oneloop_sleep()``, a
    function given to each new connection, which sleeps in the thread running
    the sqlite3 call, as a slow query on a busy disk would."""
    connection_created.connect(_register_sleep)
    if connection.vendor == "postgresql":
        yield "SELECT pg_sleep(%s)"
    elif connection.vendor == "mysql":
        yield "SELECT SLEEP(%s)"
    else:
        yield "SELECT oneloop_sleep(%s)"
    connection_created.disconnect(_register_sleep)


async def cancel_mid_query(work: Callable[[], None], started: asyncio.Event) -> float:
    """Run ``work`` in a bridge, cancel it 0.2 s after it sets ``started``
    (just before its long query), and return when it was cancelled."""
    task = asyncio.create_task(oneloop.run_sync(work))
    await started.wait()
    await asyncio.sleep(0.2)
    cancelled_at = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return cancelled_at
