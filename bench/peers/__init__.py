"""The non-Django peers: FastAPI + SQLAlchemy 2 asyncio, and raw ASGI + psycopg.

Both read the database named by ``BENCH_PG_*`` and size their pool with
``BENCH_POOL``, like ``bench.settings`` does for the Django systems.
"""

from __future__ import annotations

import os

POOL = int(os.environ.get("BENCH_POOL", "20"))


def pg_params() -> dict[str, str]:
    """Host, port, user and database name of the benchmark database."""
    return {
        "host": os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
        "port": os.environ.get("BENCH_PG_PORT", "5432"),
        "user": os.environ.get("BENCH_PG_USER", "postgres"),
        "dbname": os.environ.get("BENCH_PG_NAME", "oneloop_bench"),
    }
