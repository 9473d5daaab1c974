"""The quick comparison: stock sync ORM vs stock async ORM vs oneloop.

Run ``python -m bench.quick``. It prints, for each system:

* per-query latency of an indexed lookup (``filter(n=k).first()`` /
  ``afirst()``), µs per call, the median of several repeats;
* wall time of 20 concurrent lookups that each wait 0.2 s in the database
  (stock sync: one after another; stock async: ``asyncio.gather`` of
  ``afirst()``; oneloop: ``asyncio.gather`` of ``afirst()``, and
  ``oneloop.gather`` from a sync function run with ``oneloop.run_sync``);

then the ratios oneloop / stock sync and oneloop / stock async. It uses
PostgreSQL at 127.0.0.1:5432 (``BENCH_PG_*`` to change) when reachable, else
embedded SQLite (where a user function sleeps in place of ``pg_sleep``), and
says which; ``--db mysql`` uses MariaDB or MySQL at 127.0.0.1:3306
(``BENCH_MYSQL_*``), Django's MySQL ENGINE against oneloop's. Each system
runs in its own interpreter (stock ones without oneloop imported), one after
another, in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.db import Target, choose_target, prepare
from bench.inproc import measure

LATENCY_SYSTEMS = ("stock-sync", "stock-async", "oneloop-async")
CONCURRENCY_SYSTEMS = ("stock-sync", "stock-async", "oneloop-async", "oneloop-sync")
LABELS = {
    "stock-sync": "stock Django, sync first()",
    "stock-async": "stock Django, afirst()",
    "oneloop-async": "oneloop, afirst()",
    "oneloop-sync": "oneloop, oneloop.gather from sync",
}


def run(target: Target, calls: int, repeats: int, tasks: int, wait: float) -> dict:
    """Measure every system against ``target``; return the raw results."""
    prepare(target)
    latency = {
        system: measure("latency", system, target, calls=calls, repeats=repeats)
        for system in LATENCY_SYSTEMS
    }
    concurrency = {
        system: measure(
            "concurrency", system, target, tasks=tasks, wait=wait, pool=tasks + 5
        )
        for system in CONCURRENCY_SYSTEMS
    }
    return {"latency": latency, "concurrency": concurrency}


def _ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> str:
    if "error" in a or "error" in b:
        return "n/a"
    return f"{a[key] / b[key]:.2f}x"


def render(
    target: Target, results: dict, calls: int, tasks: int, wait: float, why: str
) -> str:
    """The human-readable report; ``why`` says how the database was chosen."""
    server = {"postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL"}.get(target.vendor)
    where = (
        f"{server} at {target.host}:{target.port}, database {target.name}"
        if server
        else f"embedded SQLite ({target.sqlite_path})"
    )
    where += f" ({why})"
    loops = {r.get("loop") for r in results["latency"].values() if r.get("loop")}
    lines = [f"Database: {where}"]
    if loops:
        lines.append(f"Event loop of the async systems: {', '.join(sorted(loops))}")
    lines.append("")
    lines.append(f"Per-query latency, indexed lookup (median µs/call, {calls} calls)")
    for system in LATENCY_SYSTEMS:
        r = results["latency"][system]
        value = f"{r['median']:9.1f} µs" if "error" not in r else f"error: {r['error']}"
        lines.append(f"  {LABELS[system]:<36} {value}")
    lines.append("")
    lines.append(
        f"{tasks} concurrent lookups, each waiting {wait} s in the database "
        f"(sequential would take {tasks * wait:.1f} s)"
    )
    for system in CONCURRENCY_SYSTEMS:
        r = results["concurrency"][system]
        value = f"{r['seconds']:9.2f} s" if "error" not in r else f"error: {r['error']}"
        lines.append(f"  {LABELS[system]:<36} {value}")
    lat, conc = results["latency"], results["concurrency"]
    lines += [
        "",
        "Ratios (below 1 = oneloop is faster)",
        "  latency      oneloop afirst / stock sync first  "
        + _ratio(lat["oneloop-async"], lat["stock-sync"], "median"),
        "  latency      oneloop afirst / stock afirst      "
        + _ratio(lat["oneloop-async"], lat["stock-async"], "median"),
        "  concurrency  oneloop / stock sync               "
        + _ratio(conc["oneloop-async"], conc["stock-sync"], "seconds"),
        "  concurrency  oneloop / stock async              "
        + _ratio(conc["oneloop-async"], conc["stock-async"], "seconds"),
        "  concurrency  oneloop.gather (sync) / stock sync "
        + _ratio(conc["oneloop-sync"], conc["stock-sync"], "seconds"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.quick``."""
    parser = argparse.ArgumentParser(prog="python -m bench.quick", description=__doc__)
    parser.add_argument(
        "--db",
        choices=["auto", "postgresql", "mysql", "sqlite"],
        default="auto",
        help="database to use (default: PostgreSQL if reachable, else SQLite; "
        "mysql: MariaDB or MySQL at BENCH_MYSQL_HOST/PORT, default "
        "127.0.0.1:3306)",
    )
    parser.add_argument("--calls", type=int, default=2000, help="lookups per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="repeats (median)")
    parser.add_argument("--tasks", type=int, default=20, help="concurrent lookups")
    parser.add_argument("--wait", type=float, default=0.2, help="seconds each waits")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results")
    args = parser.parse_args(argv)
    target = choose_target(args.db)
    results = run(target, args.calls, args.repeats, args.tasks, args.wait)
    if args.db != "auto":
        why = "chosen with --db"
    elif target.vendor == "postgresql":
        why = "reachable"
    else:
        why = "no PostgreSQL reachable"
    print(render(target, results, args.calls, args.tasks, args.wait, why))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"database": target.vendor, **results}, out, indent=1)
    failed = [
        f"{kind}/{system}"
        for kind, by_system in results.items()
        for system, r in by_system.items()
        if "error" in r
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
