"""The benchmark database: where it is, creating it, filling its one table.

Every system reads the same table, ``bench_item`` (``bench.benchapp.Item``),
in its own database (``oneloop_bench`` by default) so the runs never touch a
database somebody else uses.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass

ROWS = 10_000
"""Rows in ``bench_item``; ``n`` runs from 0 to ROWS - 1 and is indexed."""


@dataclass(frozen=True)
class Target:
    """Which database the benchmark uses and how to reach it."""

    vendor: str  # "postgresql", "mysql" (MariaDB or MySQL) or "sqlite"
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    name: str = "oneloop_bench"
    sqlite_path: str = ""

    @property
    def dsn(self) -> str:
        """libpq connection string of the PostgreSQL benchmark database."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.name}"

    @property
    def sqlalchemy_url(self) -> str:
        """SQLAlchemy URL using the psycopg (3) async driver."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.name}"

    def env(self) -> dict[str, str]:
        """Environment variables that point ``bench.settings`` at this target."""
        server = "MYSQL" if self.vendor == "mysql" else "PG"
        return {
            "BENCH_DB": self.vendor,
            f"BENCH_{server}_HOST": self.host,
            f"BENCH_{server}_PORT": str(self.port),
            f"BENCH_{server}_USER": self.user,
            f"BENCH_{server}_NAME": self.name,
            "BENCH_SQLITE_PATH": self.sqlite_path,
        }


def wait_sql(vendor: str) -> str:
    """SQL expression (one ``%s`` parameter: seconds) that makes a query wait
    on the database side and evaluates to 1."""
    if vendor == "postgresql":
        return "(SELECT 1 FROM pg_sleep(%s))"
    if vendor == "mysql":
        return "(SLEEP(%s) + 1)"  # SLEEP() returns 0
    return "bench_sleep(%s)"


def pg_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def choose_target(want: str = "auto", sqlite_path: str = "") -> Target:
    """PostgreSQL from ``BENCH_PG_*`` (default 127.0.0.1:5432) when reachable,
    else embedded SQLite, unless ``want`` forces one; ``want="mysql"``:
    MariaDB or MySQL from ``BENCH_MYSQL_*`` (default root@127.0.0.1:3306)."""
    if want == "mysql":
        return Target(
            "mysql",
            os.environ.get("BENCH_MYSQL_HOST", "127.0.0.1"),
            int(os.environ.get("BENCH_MYSQL_PORT", "3306")),
            os.environ.get("BENCH_MYSQL_USER", "root"),
            os.environ.get("BENCH_MYSQL_NAME", "oneloop_bench"),
        )
    host = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("BENCH_PG_PORT", "5432"))
    user = os.environ.get("BENCH_PG_USER", "postgres")
    name = os.environ.get("BENCH_PG_NAME", "oneloop_bench")
    if want == "postgresql" or (want == "auto" and pg_reachable(host, port)):
        return Target("postgresql", host, port, user, name)
    path = sqlite_path or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "results", "tmp-bench.sqlite3")
    )
    return Target("sqlite", sqlite_path=path)


def ensure_database(target: Target) -> None:
    """Create the PostgreSQL or MariaDB/MySQL database if it is missing
    (SQLite creates its file itself)."""
    if target.vendor == "mysql":
        import MySQLdb

        conn = MySQLdb.connect(
            host=target.host, port=target.port, user=target.user, charset="utf8mb4"
        )
        try:
            conn.cursor().execute(
                f"CREATE DATABASE IF NOT EXISTS `{target.name}` CHARACTER SET utf8mb4"
            )
        finally:
            conn.close()
        return
    if target.vendor != "postgresql":
        os.makedirs(os.path.dirname(target.sqlite_path), exist_ok=True)
        return
    import psycopg
    from psycopg import sql

    admin = f"host={target.host} port={target.port} user={target.user} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (target.name,)
        ).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.name))
            )


def _fill() -> None:
    """Inside a Django process (stock settings): create ``bench_item`` with the
    schema editor if missing and make it hold exactly ``ROWS`` rows."""
    import django

    django.setup()
    from django.db import connection, transaction

    from bench.benchapp.models import Item

    if Item._meta.db_table not in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            editor.create_model(Item)
    if Item.objects.count() != ROWS:
        with transaction.atomic():
            Item.objects.all().delete()
            Item.objects.bulk_create(
                Item(n=i, name=f"item number {i}", value=(i * 7919) % 100_000)
                for i in range(ROWS)
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE bench_item")


def prepare(target: Target) -> None:
    """Create the database and the filled table, in a child process running
    stock Django so the parent stays free of Django state."""
    ensure_database(target)
    env = {
        **os.environ,
        **target.env(),
        "BENCH_SYSTEM": "stock",
        "BENCH_POOL": "1",
        "DJANGO_SETTINGS_MODULE": "bench.settings",
    }
    subprocess.run(
        [sys.executable, "-c", "from bench.db import _fill; _fill()"],
        env=env,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
