"""A query that waits in the database on any backend: ``pg_sleep()`` on
PostgreSQL, ``SLEEP()`` on MySQL; on SQLite ``oneloop_sleep()``, a function
given to each new connection, which sleeps in the thread running the sqlite3
call, as a slow query on a busy disk would. Used by the suite and by the
servers it starts."""

import time


def _sleep(seconds: float) -> int:
    time.sleep(seconds)
    return 1


def register_sleep(sender, connection, **kwargs):
    """``connection_created`` receiver: gives SQLite connections
    ``oneloop_sleep()``."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("oneloop_sleep", 1, _sleep)


def sleep_sql(vendor: str) -> str:
    """SQL that waits ``%s`` seconds in the database of ``vendor``."""
    if vendor == "postgresql":
        return "SELECT pg_sleep(%s)"
    if vendor == "mysql":
        return "SELECT SLEEP(%s)"
    return "SELECT oneloop_sleep(%s)"
