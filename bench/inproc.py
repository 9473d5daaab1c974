"""In-process measurements (P1 per-query latency, P7 crossing cost with and
without oneloop's loop-block watchdog, and the quick run's 20-way
concurrency), one system per process.

Each measurement runs in a fresh interpreter so that stock Django is measured
with oneloop not even imported. The parent calls :func:`measure`, which starts
``python -m bench.inproc MODE SYSTEM`` and reads one JSON line back.

Systems:

``stock-sync``
    Django's own ENGINE, ``first()``, no event loop.
``stock-async``
    Django's own ENGINE, ``afirst()`` on an event loop (asgiref thread hop).
``oneloop-async``
    oneloop installed, oneloop ENGINE, ``afirst()`` on the event loop.
``oneloop-sync``
    oneloop installed, oneloop ENGINE, sync ``first()`` in a function run with
    ``oneloop.run_sync`` (concurrency through ``oneloop.gather``).
``psycopg-sync`` / ``psycopg-async``
    raw psycopg 3 connection, the same SQL Django sends; no ORM (the floor).
``mysqlclient-sync`` / ``asyncmy-async``
    the same floor on MariaDB or MySQL: a raw connection of the driver under
    Django's MySQL ENGINE (mysqlclient) and of the one under oneloop's
    (asyncmy), the SQL Django sends there.
``oneloop-plain`` / ``stockapp-plain``
    sync ``first()`` with no loop, with oneloop installed (its ENGINE, or
    Django's ENGINE): P3, what oneloop costs a sync deployment.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.db import ROWS, Target, wait_sql

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOOKUP_SQL = (
    'SELECT "bench_item"."id", "bench_item"."n", "bench_item"."name", '
    '"bench_item"."value" FROM "bench_item" WHERE "bench_item"."n" = %s '
    'ORDER BY "bench_item"."id" ASC LIMIT 1'
)
"""What ``Item.objects.filter(n=k).first()`` sends; used by the raw peers."""
MYSQL_LOOKUP_SQL = LOOKUP_SQL.replace('"', "`")
"""The same lookup as Django's MySQL backend quotes it."""

DJANGO_SYSTEM = {
    "stock-sync": "stock",
    "stock-async": "stock",
    "oneloop-async": "oneloop",
    "oneloop-sync": "oneloop",
    "psycopg-sync": "stock",
    "psycopg-async": "stock",
    "mysqlclient-sync": "stock",
    "asyncmy-async": "stock",
    "oneloop-plain": "oneloop",
    "stockapp-plain": "stock+app",
    "asgiref": "stock",
    "oneloop-bridge": "oneloop",
}


def measure(
    mode: str, system: str, target: Target, timeout: float = 300, **options: Any
) -> dict[str, Any]:
    """Run one measurement in a child interpreter and return its JSON result.

    A failure is returned as ``{"error": ...}`` rather than raised, so one
    broken system does not hide the others' numbers.
    """
    env = {
        **os.environ,
        **target.env(),
        "BENCH_SYSTEM": DJANGO_SYSTEM[system],
        "BENCH_POOL": str(options.pop("pool", 25)),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
    }
    args = [sys.executable, "-m", "bench.inproc", mode, system]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    try:
        done = subprocess.run(
            args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        errors = [line for line in lines if not line.startswith((" ", "\t"))]
        return {"error": (errors or lines or [f"exit status {done.returncode}"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the child side -----------------------------------------------------------


def _new_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop when installed (what uvicorn uses), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), "uvloop"


def _keys(count: int) -> list[int]:
    """Lookup keys spread over the table, the same for every system."""
    return [(i * 7919) % ROWS for i in range(count)]


def _time_sync(fn: Callable[[int], Any], calls: int, repeats: int) -> list[float]:
    """µs per call of ``fn(key)``, one figure per repeat."""
    keys = _keys(calls)
    for k in keys[: max(20, calls // 10)]:  # warm-up: connection, caches
        fn(k)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for k in keys:
            fn(k)
        out.append((time.perf_counter() - start) / calls * 1e6)
    return out


async def _time_async(
    fn: Callable[[int], Any], calls: int, repeats: int
) -> list[float]:
    """µs per awaited call of ``fn(key)``, one figure per repeat."""
    keys = _keys(calls)
    for k in keys[: max(20, calls // 10)]:
        await fn(k)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for k in keys:
            await fn(k)
        out.append((time.perf_counter() - start) / calls * 1e6)
    return out


def _summary(samples: list[float], **extra: Any) -> dict[str, Any]:
    return {"median": statistics.median(samples), "samples": samples, **extra}


def _django() -> Any:
    import django

    django.setup()
    from bench.benchapp.models import Item

    return Item


def latency(system: str, calls: int, repeats: int) -> dict[str, Any]:
    """P1: µs per indexed lookup for one system."""
    loop, loop_name = _new_loop()
    if system.startswith("psycopg"):
        from bench.db import choose_target

        dsn = choose_target("postgresql").dsn
        if system == "psycopg-sync":
            import psycopg

            conn = psycopg.connect(dsn)

            def lookup(k: int) -> Any:
                return conn.execute(LOOKUP_SQL, (k,)).fetchone()

            return _summary(_time_sync(lookup, calls, repeats), loop=None)

        async def main() -> list[float]:
            import psycopg

            aconn = await psycopg.AsyncConnection.connect(dsn)

            async def alookup(k: int) -> Any:
                cur = await aconn.execute(LOOKUP_SQL, (k,))
                return await cur.fetchone()

            return await _time_async(alookup, calls, repeats)

        return _summary(loop.run_until_complete(main()), loop=loop_name)
    if system in {"mysqlclient-sync", "asyncmy-async"}:
        return _mysql_latency(system, calls, repeats, loop, loop_name)

    Item = _django()
    if system in {"stock-sync", "oneloop-plain", "stockapp-plain"}:
        samples = _time_sync(lambda k: Item.objects.filter(n=k).first(), calls, repeats)
        return _summary(samples, loop=None)
    if system in {"stock-async", "oneloop-async"}:

        async def main() -> list[float]:
            return await _time_async(
                lambda k: Item.objects.filter(n=k).afirst(), calls, repeats
            )

        return _summary(loop.run_until_complete(main()), loop=loop_name)
    if system == "oneloop-sync":
        from oneloop.bridge import run_sync

        async def main() -> list[float]:
            return await run_sync(
                _time_sync, lambda k: Item.objects.filter(n=k).first(), calls, repeats
            )

        return _summary(loop.run_until_complete(main()), loop=loop_name)
    raise SystemExit(f"no latency measurement for {system!r}")


def _mysql_latency(
    system: str,
    calls: int,
    repeats: int,
    loop: asyncio.AbstractEventLoop,
    loop_name: str,
) -> dict[str, Any]:
    """P1's floor on MariaDB/MySQL: the lookup on a raw driver connection."""
    from bench.db import choose_target

    target = choose_target("mysql")
    where = {"host": target.host, "port": target.port, "user": target.user}
    if system == "mysqlclient-sync":
        import MySQLdb

        conn = MySQLdb.connect(**where, database=target.name, charset="utf8mb4")
        cursor = conn.cursor()

        def lookup(k: int) -> Any:
            cursor.execute(MYSQL_LOOKUP_SQL, (k,))
            return cursor.fetchone()

        return _summary(_time_sync(lookup, calls, repeats), loop=None)

    async def main() -> list[float]:
        import asyncmy

        aconn = await asyncmy.connect(**where, db=target.name, charset="utf8mb4")
        cursor = aconn.cursor()

        async def alookup(k: int) -> Any:
            await cursor.execute(MYSQL_LOOKUP_SQL, (k,))
            return await cursor.fetchone()

        return await _time_async(alookup, calls, repeats)

    return _summary(loop.run_until_complete(main()), loop=loop_name)


def concurrency(system: str, tasks: int, wait: float) -> dict[str, Any]:
    """Wall time of ``tasks`` lookups that each wait ``wait`` s on the server."""
    from django.db import connection
    from django.db.models.expressions import RawSQL

    Item = _django()
    wait_expr = wait_sql(connection.vendor)
    keys = _keys(tasks)

    def qs(k: int, seconds: float) -> Any:
        return Item.objects.filter(n=k).annotate(waited=RawSQL(wait_expr, (seconds,)))

    loop, loop_name = _new_loop()
    if system == "stock-sync":

        def run(seconds: float) -> list[Any]:
            return [qs(k, seconds).first() for k in keys]

        run(0)  # warm-up
        start = time.perf_counter()
        rows = run(wait)
        elapsed = time.perf_counter() - start
        loop_name = None
    elif system in {"stock-async", "oneloop-async"}:

        async def run_async(seconds: float) -> list[Any]:
            return await asyncio.gather(*(qs(k, seconds).afirst() for k in keys))

        async def main() -> tuple[float, list[Any]]:
            await qs(keys[0], 0).afirst()  # opens the pool (start-up, not measured)
            await run_async(0)  # warm-up: every pool connection in use once
            start = time.perf_counter()
            rows = await run_async(wait)
            return time.perf_counter() - start, rows

        elapsed, rows = loop.run_until_complete(main())
    elif system == "oneloop-sync":
        from oneloop.bridge import gather, run_sync

        def fan_out(seconds: float) -> list[Any]:
            return gather(*(functools.partial(qs(k, seconds).first) for k in keys))

        async def main() -> tuple[float, list[Any]]:
            await run_sync(qs(keys[0], 0).first)  # opens the pool (not measured)
            await run_sync(fan_out, 0)
            start = time.perf_counter()
            rows = await run_sync(fan_out, wait)
            return time.perf_counter() - start, rows

        elapsed, rows = loop.run_until_complete(main())
    else:
        raise SystemExit(f"no concurrency measurement for {system!r}")
    if len(rows) != tasks or any(row is None or row.waited != 1 for row in rows):
        raise SystemExit(f"{system}: wrong rows from the concurrent lookups")
    return {
        "seconds": elapsed,
        "tasks": tasks,
        "wait": wait,
        "sequential_seconds": tasks * wait,
        "loop": loop_name,
        "vendor": connection.vendor,
    }


async def _noop_coroutine() -> None:
    return None


def _noop() -> None:
    return None


def crossing(system: str, calls: int, repeats: int) -> dict[str, Any]:
    """P7: µs per sync→async and async→sync crossing, asgiref vs oneloop."""
    loop, loop_name = _new_loop()
    result: dict[str, Any] = {"loop": loop_name}
    if system == "asgiref":
        from asgiref.sync import async_to_sync, sync_to_async

        hop = sync_to_async(_noop)

        async def a2s() -> list[float]:
            return await _time_async(lambda _k: hop(), calls, repeats)

        result["to_sync"] = _summary(loop.run_until_complete(a2s()))
        back = async_to_sync(_noop_coroutine)
        result["to_async"] = _summary(_time_sync(lambda _k: back(), calls, repeats))
        return result
    if system == "oneloop-bridge":
        from oneloop.bridge import await_, run_sync

        async def a2s() -> list[float]:
            return await _time_async(lambda _k: run_sync(_noop), calls, repeats)

        async def s2a() -> list[float]:
            return await run_sync(
                _time_sync, lambda _k: await_(_noop_coroutine()), calls, repeats
            )

        async def in_new_task() -> list[float]:
            return await _time_async(
                lambda _k: loop.create_task(run_sync(_noop)), calls, repeats
            )

        async def new_task() -> list[float]:
            return await _time_async(
                lambda _k: loop.create_task(_noop_coroutine()), calls, repeats
            )

        async def nested() -> list[float]:
            return await run_sync(
                _time_sync, lambda _k: await_(run_sync(_noop)), calls, repeats
            )

        result["to_sync"] = _summary(loop.run_until_complete(a2s()))
        result["to_async"] = _summary(loop.run_until_complete(s2a()))
        # What a request pays: its first bridge is in a task of its own (the
        # task alone is "new_task"); an ORM a*() call from an async view is a
        # run_sync nested in the request's bridge.
        result["to_sync_new_task"] = _summary(loop.run_until_complete(in_new_task()))
        result["new_task"] = _summary(loop.run_until_complete(new_task()))
        result["nested"] = _summary(loop.run_until_complete(nested()))
        return result
    raise SystemExit(f"no crossing measurement for {system!r}")


def watchdog(system: str, calls: int, repeats: int) -> dict[str, Any]:
    """P7 with oneloop's loop-block watchdog: µs per ``await run_sync(f)``
    no-op round trip with ``start_watchdog(loop, 100)`` running on the loop
    (the ASGI handler's default threshold) and without it. Off and on
    alternate in one process, the order flipped each round, so drift touches
    both alike."""
    if system != "oneloop-bridge":
        raise SystemExit(f"no watchdog measurement for {system!r}")
    from oneloop.bridge import run_sync
    from oneloop.watchdog import start_watchdog, stop_watchdog

    loop, loop_name = _new_loop()
    samples: dict[str, list[float]] = {"off": [], "on": []}

    async def once(state: str) -> None:
        if state == "on":
            start_watchdog(loop, 100)
            await asyncio.sleep(0.05)  # the monitor thread is up and waiting
        try:
            samples[state] += await _time_async(lambda _k: run_sync(_noop), calls, 1)
        finally:
            if state == "on":
                stop_watchdog(loop)

    async def main() -> None:
        for i in range(repeats):
            for state in ("off", "on") if i % 2 == 0 else ("on", "off"):
                await once(state)

    loop.run_until_complete(main())
    return {
        "loop": loop_name,
        "threshold_ms": 100,
        "off": _summary(samples["off"]),
        "on": _summary(samples["on"]),
    }


def main(argv: list[str] | None = None) -> None:
    """Child entry point: run one measurement, print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.inproc")
    modes = ["latency", "concurrency", "crossing", "watchdog"]
    parser.add_argument("mode", choices=modes)
    parser.add_argument("system", choices=sorted(DJANGO_SYSTEM))
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--wait", type=float, default=0.2)
    args = parser.parse_args(argv)
    if args.mode == "latency":
        result = latency(args.system, args.calls, args.repeats)
    elif args.mode == "concurrency":
        result = concurrency(args.system, args.tasks, args.wait)
    elif args.mode == "watchdog":
        result = watchdog(args.system, args.calls, args.repeats)
    else:
        result = crossing(args.system, args.calls, args.repeats)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
