"""App config of the benchmark app."""

from __future__ import annotations

import time
from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _sleep(seconds: float) -> int:
    """SQLite stand-in for ``pg_sleep``: the query waits ``seconds``."""
    time.sleep(seconds)
    return 1


def register_sqlite_sleep(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Give every new SQLite connection a ``bench_sleep(seconds)`` function,
    so the "query that waits on the server" scenarios run on SQLite too."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("bench_sleep", 1, _sleep)


class BenchAppConfig(AppConfig):
    """Holds the ``Item`` model the benchmarks query."""

    name = "bench.benchapp"
    label = "benchapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        connection_created.connect(register_sqlite_sleep)
