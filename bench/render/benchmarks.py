"""docs/benchmarks.md, section by section.

Every function takes a suite results file's contents and returns the
Markdown lines of one section; :func:`page` puts them in order. Every number
is read from the results file; nothing is typed in by hand.
"""

from __future__ import annotations

from typing import Any

from bench.render import p3, round_two
from bench.render.headline import headline
from bench.render.markdown import fmt, ratio, table
from bench.results import (
    HTTP_ORDER,
    clean,
    errors,
    find,
    http,
    label,
    order,
    unclean_reason,
)

STEM = "bench"
"""Images are ``img/<STEM>-<scenario>.png`` next to the page."""
P1_LABELS = {
    "stock-sync": "stock Django `first()` (sync, no loop)",
    "stock-async": "stock Django `afirst()` (asgiref thread hop)",
    "oneloop-async": "oneloop `afirst()` (on the loop)",
    "oneloop-sync": "oneloop sync `first()` inside `run_sync`",
    "psycopg-sync": "raw psycopg sync `execute()`",
    "psycopg-async": "raw psycopg async `execute()`",
}

METHOD = """\
## How to run

From a clean clone, one command:

```sh
bash bench/run.sh --quick               # set-up, then the suite: a few minutes
bash bench/run.sh --full                # at most 20 minutes, 1 then 2 workers
.venv/bin/python -m bench report        # re-render the newest results file
```

`bench/run.sh` runs `bench/setup.sh` first (wrk, the virtualenv `.venv` and
the `[bench]` packages; it skips what is already done), starts the local
PostgreSQL cluster if it is installed but down, then runs
`.venv/bin/python -m bench run` with its arguments. A full run writes
`bench/results/full-<date>.json`, this page and `docs/img/bench-*.png|svg`,
and refreshes the headline block of [evidence.md](evidence.md). Commit the
three together. PostgreSQL comes from
`BENCH_PG_HOST`/`BENCH_PG_PORT`/`BENCH_PG_USER` (default 127.0.0.1:5432,
user postgres); the suite creates and fills its own database,
`oneloop_bench` (10 000 rows in `bench_item`, `n` indexed).

Three smaller comparisons have their own scripts; each writes
`bench/results/<name>-<date>.json` and the table between the
`<!-- bench:<name>:start -->` and `end` markers of its page:
`.venv/bin/python -m bench.asgi_compare` ([asgi.md](asgi.md); PostgreSQL),
`.venv/bin/python bench/cache_compare.py` ([cache.md](cache.md); Redis at
127.0.0.1:6379) and `.venv/bin/python bench/mail_compare.py`
([mail.md](mail.md)). P1 and P2 on MariaDB have theirs too,
`.venv/bin/python -m bench.mysql_compare` (the MariaDB block at the end of
this page; MariaDB or MySQL from `BENCH_MYSQL_HOST`/`BENCH_MYSQL_PORT`/
`BENCH_MYSQL_USER`/`BENCH_MYSQL_NAME`, default root@127.0.0.1:3306,
database `oneloop_bench`). Where P4's tail at one worker comes from has one
too, `.venv/bin/python -m bench.tail_compare` (its block near the end of this
page). `python -m bench report` re-renders those tables too, from the newest
results file of each.

## Scenarios

- **P1** per-query latency in-process: `Item.objects.filter(n=k).first()`
  (stock sync), `afirst()` (stock: asgiref thread hop; oneloop: on the loop),
  and the same SQL on a raw psycopg connection; µs per call, median of
  repeats, each system in its own interpreter.
- **P2** IO-bound throughput: each request runs one query that waits 50 ms on
  the server (`pg_sleep(0.05)` in the lookup); wrk at 10/100/500 connections;
  requests/s, p50/p99, server CPU µs per request (whole process tree).
- **P3** sync deployment cost, installed vs not: the same project with
  `"oneloop"` added to `INSTALLED_APPS` and nothing else changed, against
  stock: `manage.py check` start-up, sync `first()` with no loop, and WSGI P4
  throughput (gunicorn gthread, same pool). The systems are measured in
  alternating rounds (a fresh server each round for WSGI) and each ratio is
  set against the run's own repeat spread. oneloop's ENGINE with no loop
  running is measured the same way and reported as a separate figure.
- **P4** CPU-bound: one indexed query for 20 rows rendered with a small
  template (Django templates; Jinja2 for FastAPI; string building for the raw
  floor); wrk at 50 connections.
- **P5** memory per in-flight request: a bounded asyncio client holds N
  requests that each wait 1 s in the database; peak RSS of the server's
  process tree minus its idle RSS, divided by N, and the thread count.
- **P6** fan-out: one request issuing 5 independent 50 ms queries
  (`oneloop.gather` from the sync view under oneloop, one after another in
  stock sync views, `asyncio.gather` in async views); p50 at 4 connections.
- **P7** one sync↔async crossing: asgiref `sync_to_async` / `async_to_sync`
  vs oneloop `run_sync` / `await_`, no-op round trips; µs.
  Beside it, oneloop's `run_sync` crossing with its loop-block watchdog
  started on the loop (`start_watchdog(loop, 100)`) against without,
  alternating in one process.

Every request of every system is primed once, one at a time, before a
concurrent warm-up that is not recorded; the server is left to go idle
between measurements. Rows where more than 0.1 % of requests failed are
marked and never used for a ratio.

Not in the suite: Django 6.1 + django-async-backend (it needs Django 6.1 and
Python 3.12 or newer, while the suite's environment is Python 3.11 +
Django 5.2 LTS).
"""

PEERS = """\
What each server's and pool's own documentation recommends, and what the
suite does:

- **gunicorn gthread** (`wsgi`, P3's WSGI rows): gunicorn's settings
  reference puts `workers` and `threads` "generally in the 2-4 x
  $(NUM_CORES) range"; the suite departs from it on purpose, with the same
  worker count for every system and one thread per pool connection (more
  than that range), so that the 50 ms waits of P2 are not capped by the
  thread count.
- **gunicorn gevent** (`gevent`): `worker_connections` ("the maximum number
  of simultaneous clients") stays at gunicorn's default, 1000; psycopg 3
  needs no psycogreen under gevent (its psycogreen page: supported
  automatically from 3.1.14 on).
- **uvicorn** (every ASGI system): uvloop and httptools, what its `auto`
  loop and HTTP settings choose when they are installed.
- **Django's pool** (every Django system): Django's docs say to disable
  persistent connections under ASGI and use the backend's connection
  pooling instead; every Django system (WSGI too, like for like) runs
  Django's psycopg pool (`OPTIONS["pool"]`, `min_size = max_size`;
  oneloop's ENGINE its own pool of the same size).
- **SQLAlchemy** (`fastapi`): its `create_engine` reference gives the
  defaults `pool_size=5`, `max_overflow=10` and no sizing rule; the suite
  sets `pool_size` to the per-worker connection count and `max_overflow=0`,
  the same connections as every other system.
- **psycopg_pool** (`raw`): its docs describe fixed (`min_size = max_size`)
  and growing pools and name no size ("probably not as large as you
  imagine"); the suite uses a fixed pool of the per-worker connection count.

Every pool size is the run's connection budget split over the worker
processes; the table above gives it per system.
"""


def intro(results: dict, name: str, link: str) -> list[str]:
    """The title, where the figures come from, and the machine."""
    m = results["machine"]
    mode = results["mode"]
    return [
        "# Benchmarks",
        "",
        f"Generated by `python -m bench report` from [`{name}`]"
        f"({link}) — a **{mode['name']}** run. Do not edit by hand: re-run the "
        "suite (`bash bench/run.sh --full`) and commit the results file.",
        "",
        "## Machine",
        "",
        f"- {m['date']}; {m['platform']}; {m['cpu_model']}, {m['cpu_count']} "
        f"CPUs, {m['memory_gib']} GiB",
        f"- Python {m['python']}, PostgreSQL {m['postgresql']}, {m['wrk']}",
        "- load average at start "
        + ", ".join(f"{x:.2f}" for x in m["loadavg_at_start"])
        + (
            f", at end {', '.join(f'{x:.2f}' for x in m['loadavg_at_end'])}"
            if "loadavg_at_end" in m
            else ""
        ),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        f"- oneloop commit `{m['oneloop_commit'][:12]}`",
        "- everything on loopback; server, PostgreSQL and wrk share the CPUs. "
        "Compare systems within this run, as ratios.",
        f"- wrk: {mode['seconds']:g} s per measurement after a {mode['warmup']:g} s "
        f"warm-up, one wrk thread; {results['pool_total']} database connections "
        "per system, split evenly over its worker processes.",
        "",
    ]


def systems(results: dict) -> list[str]:
    """Every system with its configuration, and what each peer recommends."""
    lines: list[str] = []
    configs = {}
    for r in results.get("http", []):
        configs.setdefault((r["system"], r["workers"]), r["config"])
    for entry in results.get("P3", {}).get("wsgi", []):
        for name, system in entry["systems"].items():
            configs.setdefault((name, entry["workers"]), system["config"])
    lines += ["## Systems", ""]
    lines += table(
        ["system", "workers", "configuration"],
        [
            (f"{s} — {label(results, s)}", w, c)
            for (s, w), c in sorted(
                configs.items(),
                key=lambda i: (
                    i[0][1],
                    HTTP_ORDER.index(i[0][0]) if i[0][0] in HTTP_ORDER else 99,
                ),
            )
        ],
    )
    lines.append("")
    lines += [
        "All Django systems run the middleware and apps of `startproject` "
        "(security, sessions, common, CSRF, auth, messages, clickjacking) and "
        "`DEBUG = False`.",
        "",
        PEERS,
    ]
    return lines


def p1(results: dict, images: set[str]) -> list[str]:
    """P1: per-query latency in-process."""
    lines: list[str] = []
    p1 = results.get("P1", {})
    base = p1.get("stock-sync", {}).get("median")
    stock_async = p1.get("stock-async", {}).get("median")
    lines += ["## P1 per-query latency in-process", ""]
    lines += table(
        ["system", "µs per call (median)", "x stock sync", "x stock afirst"],
        [
            (
                P1_LABELS.get(name, name),
                fmt(r.get("median"), 1) if "error" not in r else f"error: {r['error']}",
                ratio(r.get("median"), base),
                ratio(r.get("median"), stock_async),
            )
            for name, r in p1.items()
        ],
    )
    lines.append("")
    if "p1" in images:
        lines += [f"![P1](img/{STEM}-p1.png)", ""]
    return lines


def throughput(results: dict, images: set[str]) -> list[str]:
    """P2, P4 and P6: the load tests, one table each."""
    lines: list[str] = []
    for scenario, title in (
        ("P2", "P2 IO-bound throughput (one 50 ms query per request)"),
        ("P4", "P4 CPU-bound (one query for 20 rows + a template)"),
        ("P6", "P6 fan-out (5 independent 50 ms queries per request)"),
    ):
        rows = order(http(results, scenario))
        if not rows:
            continue
        lines += [f"## {title}", ""]
        lines += table(
            ["system", "workers", "clients", "req/s", "p50 ms", "p99 ms",
             "CPU µs/req", "errors", "x Django ASGI same view kind"],
            [
                (
                    r["system"], r["workers"], r["clients"], fmt(r.get("rps")),
                    fmt(r.get("p50_ms"), 1), fmt(r.get("p99_ms"), 1),
                    fmt(r.get("cpu_us_per_request")),
                    r.get("socket_errors", 0) + r.get("non_2xx", 0),
                    unclean_reason(r) if not clean(r) else ratio(
                        r.get("rps"),
                        (find(rows, "asgi-async" if "async" in r["system"]
                               or r["system"] in {"fastapi", "raw"} else "asgi-sync",
                               r["workers"], r["clients"]) or {}).get("rps"),
                    ),
                )
                for r in rows
            ],
        )  # fmt: skip
        lines.append("")
        if scenario.lower() in images:
            lines += [f"![{scenario}](img/{STEM}-{scenario.lower()}.png)", ""]
    return lines


def p5(results: dict, images: set[str]) -> list[str]:
    """P5: memory per in-flight request."""
    lines: list[str] = []
    rows = order(http(results, "P5"))
    if rows:
        lines += ["## P5 memory per in-flight request", ""]
        lines += table(
            ["system", "workers", "in flight", "idle RSS MiB", "peak RSS MiB",
             "KiB per request", "threads idle → peak", "failed"],
            [
                (
                    r["system"], r["workers"], r["clients"],
                    fmt(r["idle_rss_kib"] / 1024, 1),
                    fmt(r["peak_rss_kib"] / 1024, 1),
                    fmt(r["kib_per_request"], 1),
                    f"{r['idle_threads']} → {r['peak_threads']}", r["failed"],
                )
                for r in rows
            ],
        )  # fmt: skip
        lines.append("")
        if "p5" in images:
            lines += [f"![P5](img/{STEM}-p5.png)", ""]
    return lines


def p7(results: dict) -> list[str]:
    """P7: one sync↔async crossing, with and without the watchdog."""
    lines: list[str] = []
    p7 = results.get("P7", {})
    if p7:
        lines += ["## P7 one sync↔async crossing", ""]
        rows7 = []
        for name, bridge in (("asgiref", "asgiref"), ("oneloop-bridge", "oneloop")):
            r = p7.get(name, {})
            if "error" in r:
                rows7.append((bridge, f"error: {r['error']}", ""))
                continue
            rows7.append(
                (
                    bridge,
                    fmt(r.get("to_sync", {}).get("median"), 2),
                    fmt(r.get("to_async", {}).get("median"), 2),
                )
            )
        lines += table(
            ["bridge", "async → sync call, µs", "sync → async call, µs"], rows7
        )
        lines.append("")
        lines += [
            "asgiref: `await sync_to_async(f)()` and `async_to_sync(coro_fn)()` "
            "from a plain thread; oneloop: `await run_sync(f)` and `await_(coro)` "
            "inside a bridge. Each is a round trip of a no-op.",
            "",
        ]
        lines += watchdog_lines(p7)
    return lines


def watchdog_lines(p7: dict[str, Any]) -> list[str]:
    """P7's watchdog row: the bridge crossing with oneloop's loop-block
    watchdog started on the loop against without it, same process."""
    w = p7.get("watchdog")
    if not w:
        row = ("`await run_sync(f)`", "not measured in this results file", "-", "-")
    elif "error" in w:
        row = ("`await run_sync(f)`", f"error: {w['error']}", "-", "-")
    else:
        off, on = w["off"]["median"], w["on"]["median"]
        row = ("`await run_sync(f)`", f"{off:.2f}", f"{on:.2f}", f"{on / off:.2f}x")
    header = ["oneloop async → sync call", "watchdog off, µs", "watchdog on, µs"]
    return [
        *table([*header, "on / off"], [row]),
        "",
        "Watchdog on: `oneloop.watchdog.start_watchdog(loop, 100)` (the ASGI "
        "handler's default threshold) running while the crossings are timed; "
        "off and on alternate in one process.",
        "",
    ]


def twins(results: dict) -> list[str]:
    """The sync/async twin count the suite recorded."""
    lines: list[str] = []
    dup = results.get("duplication", {})
    if "django" in dup and "oneloop" in dup:
        lines += ["## Sync/async twin code", ""]
        lines += table(
            ["code base", "async twins (`aX` beside `X`)", "their lines",
             "all lines", "files with twins"],
            [
                (f"Django {dup['django']['version']}", dup["django"]["twins"],
                 dup["django"]["twin_lines"], dup["django"]["total_lines"],
                 dup["django"]["files_with_twins"]),
                ("oneloop", dup["oneloop"]["twins"], dup["oneloop"]["twin_lines"],
                 dup["oneloop"]["total_lines"], dup["oneloop"]["files_with_twins"]),
            ],
        )  # fmt: skip
        lines.append("")
        lines += [
            "Counted by `python -m bench.duplication`: an `async def aX` defined "
            "in the same class or module as a `def X`, tests excluded.",
            "",
        ]
    return lines


def not_run(results: dict) -> list[str]:
    """The systems that did not run, and why."""
    lines: list[str] = []
    failed = errors(results)
    if failed:
        lines += ["## Systems that did not run", ""]
        lines += table(
            ["system", "workers", "why"],
            [(r["system"], r["workers"], r["error"]) for r in failed],
        )
        lines.append("")
    return lines


CHANNELS = [
    "## WebSockets (Channels)",
    "",
    "A separate run, `python -m bench.channels_compare`, renders its table here.",
    "",
    "<!-- bench:channels:start -->",
    "Not measured yet: run `python -m bench.channels_compare`.",
    "<!-- bench:channels:end -->",
    "",
]
"""The block of the Channels comparison (``bench.publish.comparison``)."""
TAIL = [
    "## P4's tail at one worker",
    "",
    "A separate run, `python -m bench.tail_compare`, renders its table here:",
    "P4 served through a wrapper that watches the loop (`bench/probe.py`),",
    "measured as the suite does, with every connection accepted before the",
    "first request is timed, and on asyncio's own loop.",
    "",
    "<!-- bench:tail:start -->",
    "Not measured yet: run `python -m bench.tail_compare`.",
    "<!-- bench:tail:end -->",
    "",
]
"""The block of the P4 tail comparison (``bench.publish.comparison``)."""
MYSQL = [
    "## P1 and P2 on MariaDB",
    "",
    "A separate run, `python -m bench.mysql_compare`, renders its tables here:",
    "oneloop's MySQL ENGINE (asyncmy) against Django's (mysqlclient).",
    "",
    "<!-- bench:mysql:start -->",
    "Not measured yet: run `python -m bench.mysql_compare`.",
    "<!-- bench:mysql:end -->",
    "",
]
"""The block of the MariaDB comparison (``bench.publish.comparison``)."""


def page(results: dict, name: str, link: str, images: set[str]) -> list[str]:
    """The whole of benchmarks.md for the results file ``name`` (linked as
    ``link`` from the page); ``images``: the scenarios that have a figure."""
    heads = headline(results, name)
    return [
        *intro(results, name, link),
        METHOD,
        *(["## Headline ratios", "", *heads, ""] if heads else []),
        *systems(results),
        *p1(results, images),
        *throughput(results, images),
        *p5(results, images),
        *p3.tables(results),
        *p7(results),
        *round_two.section(results),
        *TAIL,
        *twins(results),
        *not_run(results),
        *CHANNELS,
        *MYSQL,
    ]
