"""Scale-out, for real: the demo with 2 uvicorn worker processes behind one
port, PostgreSQL through PgBouncer in transaction pooling mode, reads routed
to a ``replica`` alias, Redis as the shared cache.

Under concurrent reads and writes every answer must be right, both workers
must answer, no prepared-statement error may appear (oneloop leaves psycopg's
``prepare_threshold`` at None, as Django does), and PgBouncer's own
statistics must show the traffic went through it.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from django.conf import settings

from tests.examples.conftest import Server, demo
from tests.servers import admin_dsn, drop_database, need_program, recreate_database

pytestmark = [pytest.mark.postgresql, pytest.mark.redis, pytest.mark.slow]

DB_NAME = os.environ.get("ONELOOP_TEST_PG_NAME", "test_oneloop") + "_bookshop"
WORDS = ["river", "the", "silent", "garden", "ada", "winter", "map", "zzz"]
REQUESTS = 400
WRITES = 60


def start_pgbouncer(where: Path) -> tuple[subprocess.Popen[bytes], int]:
    """PgBouncer in transaction mode on a free port, in front of the server."""
    binary = need_program("pgbouncer", "pgbouncer")
    port = demo.free_port()
    config = where / "pgbouncer.ini"
    config.write_text(
        f"""[databases]
{DB_NAME} = host={settings.PG_HOST} port={settings.PG_PORT} dbname={DB_NAME} \
user={settings.PG_USER}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 8
max_client_conn = 200
admin_users = {settings.PG_USER}
ignore_startup_parameters = extra_float_digits
"""
    )
    cmd = [binary, str(config)]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        cmd[1:1] = ["-u", "postgres"]
    log = where / "pgbouncer.log"
    with log.open("ab") as out:  # opened here, so the postgres user can write
        proc = subprocess.Popen(cmd, stdout=out, stderr=out)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            psycopg.connect(
                f"host=127.0.0.1 port={port} user={settings.PG_USER} dbname={DB_NAME}",
                connect_timeout=2,
            ).close()
            return proc, port
        except psycopg.OperationalError:
            if proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {log.read_text()}") from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("pgbouncer did not accept connections within 15 s")


@pytest.fixture(scope="module")
def scaled_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    where = tmp_path_factory.mktemp("scale-out")
    recreate_database(DB_NAME)
    direct = (
        f"postgres://{settings.PG_USER}@{settings.PG_HOST}:{settings.PG_PORT}/{DB_NAME}"
    )
    demo.setup(DATABASE_URL=direct)
    bouncer, bouncer_port = start_pgbouncer(where)
    through = f"postgres://{settings.PG_USER}@127.0.0.1:{bouncer_port}/{DB_NAME}"
    port = demo.free_port()
    log = where / "server.log"
    server = demo.start_server(
        port,
        workers=2,
        log=log,
        DATABASE_URL=through,
        DATABASE_REPLICA_URL=through,
        REDIS_URL=settings.REDIS_URL,
        BOOKSHOP_POOL_MAX="6",
    )
    try:
        result = Server(f"http://127.0.0.1:{port}", log)
        result.bouncer_port = bouncer_port  # type: ignore[attr-defined]
        yield result
    finally:
        demo.stop_server(server)
        bouncer.terminate()
        bouncer.wait(timeout=10)
        drop_database(DB_NAME)


def expected_counts() -> dict[str, int]:
    """What ``/api/books/?q=word`` must answer, asked of the server directly."""
    counts = {}
    with psycopg.connect(admin_dsn(DB_NAME)) as conn:
        for word in WORDS:
            counts[word] = conn.execute(
                "SELECT count(*) FROM shop_book b JOIN shop_author a "
                "ON a.id = b.author_id WHERE b.title ILIKE %(p)s OR a.name ILIKE %(p)s",
                {"p": f"%{word}%"},
            ).fetchone()[0]
    return counts


def review_count() -> int:
    with psycopg.connect(admin_dsn(DB_NAME)) as conn:
        return conn.execute("SELECT count(*) FROM shop_review").fetchone()[0]


async def run_load(url: str, expected: dict[str, int]) -> tuple[set[int], list[str]]:
    """Concurrent reads and writes from 40 connections; return the worker pids
    seen and every wrong answer."""
    rng = random.Random(8)
    jobs: list[tuple[str, str]] = [
        ("write", str(rng.randint(1, 120))) for _ in range(WRITES)
    ]
    jobs += [("read", rng.choice(WORDS)) for _ in range(REQUESTS - WRITES)]
    jobs += [("stats", "") for _ in range(40)]
    rng.shuffle(jobs)
    pids: set[int] = set()
    problems: list[str] = []
    limits = httpx.Limits(max_connections=40, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        gate = asyncio.Semaphore(40)

        async def one(kind: str, arg: str) -> None:
            async with gate:
                if kind == "write":
                    r = await client.post(
                        f"/api/books/{arg}/reviews/",
                        json={"reviewer": "load", "rating": 4, "text": "under load"},
                    )
                elif kind == "read":
                    r = await client.get("/api/books/", params={"q": arg})
                else:
                    r = await client.get("/api/stats/")
            if r.status_code != 200:
                problems.append(f"{kind} {arg}: HTTP {r.status_code}")
                return
            data = r.json()
            pids.add(data["pid"])
            if kind == "read":
                if data["count"] != expected[arg]:
                    problems.append(f"q={arg}: {data['count']} != {expected[arg]}")
                if data["read_from"] != "replica":
                    problems.append(f"q={arg}: read from {data['read_from']}")
            elif kind == "write" and data["book"] != int(arg):
                problems.append(f"review for {arg} went to {data['book']}")
            elif kind == "stats" and data["books"] != 120:
                problems.append(f"stats: {data['books']} books")

        await asyncio.gather(*(one(kind, arg) for kind, arg in jobs))
    return pids, problems


def test_two_workers_through_pgbouncer(scaled_demo: Server) -> None:
    expected = expected_counts()
    before = review_count()

    pids, problems = asyncio.run(run_load(scaled_demo.url, expected))

    assert problems == []
    assert len(pids) == 2, f"answers came from {pids}, not 2 worker processes"
    assert review_count() == before + WRITES
    log = scaled_demo.log.read_text()
    assert "prepared statement" not in log
    assert "Traceback" not in log, log[-3000:]

    # PgBouncer carried the transactions: its own statistics say so.
    port = scaled_demo.bouncer_port  # type: ignore[attr-defined]
    with psycopg.connect(
        f"host=127.0.0.1 port={port} user={settings.PG_USER} dbname=pgbouncer",
        autocommit=True,
        prepare_threshold=None,
    ) as admin:
        cur = admin.cursor()
        cur.execute("SHOW STATS")
        columns = [c.name for c in cur.description]
        stats = {row[0]: dict(zip(columns, row, strict=True)) for row in cur}
        cur.execute("SHOW CONFIG")
        config = {row[0]: row[1] for row in cur}
    assert config["pool_mode"] == "transaction"
    assert stats[DB_NAME]["total_xact_count"] >= REQUESTS
