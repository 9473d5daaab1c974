"""Render a results file as a Markdown report with plots.

``python -m bench report [RESULTS.json] [--out DIR]`` writes
``DIR/benchmarks.md`` and ``DIR/img/bench-*.png|svg``. Every number in the
report is read from the results file; nothing is typed in by hand.
"""

from __future__ import annotations

import glob
import json
import os
import re
import statistics
from collections.abc import Iterable
from typing import Any

from bench import pages
from bench.servers import ROOT, SYSTEMS

RESULTS_DIR = os.path.join(ROOT, "bench", "results")
DOCS_DIR = os.path.join(ROOT, "docs")

P1_LABELS = {
    "stock-sync": "stock Django `first()` (sync, no loop)",
    "stock-async": "stock Django `afirst()` (asgiref thread hop)",
    "oneloop-async": "oneloop `afirst()` (on the loop)",
    "oneloop-sync": "oneloop sync `first()` inside `run_sync`",
    "psycopg-sync": "raw psycopg sync `execute()`",
    "psycopg-async": "raw psycopg async `execute()`",
}
HTTP_ORDER = (
    "wsgi", "gevent", "asgi-sync", "asgi-async", "oneloop-sync",
    "oneloop-async", "fastapi", "raw", "wsgi-app", "wsgi-oneloop",
)  # fmt: skip


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
([mail.md](mail.md)). `python -m bench report` re-renders those tables too,
from the newest results file of each.

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


_STAMP = re.compile(r"-(\d{8}-\d{6})\.json$")


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


def newest(kind: str = "suite") -> str:
    """The most recent results file of ``kind`` in ``bench/results``: the
    suite's (``quick-*``/``full-*``, the default) or a comparison script's
    (``asgi``, ``cache``, ``mail``). Newest by the date in the file name, so
    a fresh clone (where every file has the same mtime) agrees."""
    prefixes = ("quick", "full") if kind == "suite" else (kind,)
    files = [
        path
        for prefix in prefixes
        for path in glob.glob(os.path.join(RESULTS_DIR, f"{prefix}-*.json"))
        if _STAMP.search(path)
    ]
    if not files:
        raise SystemExit(f"no {kind} results in bench/results")
    return max(files, key=lambda p: (_STAMP.search(p).group(1), os.path.getmtime(p)))


def default_out(path: str) -> str:
    """``docs/`` for a full run; a folder next to the JSON for the others."""
    with open(path, encoding="utf-8") as f:
        mode = json.load(f)["mode"]["name"]
    return DOCS_DIR if mode == "full" else os.path.splitext(path)[0]


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _http(results: dict, scenario: str) -> list[dict[str, Any]]:
    return [r for r in results.get("http", []) if r.get("scenario") == scenario]


def _find(rows: list[dict], system: str, workers: int, clients: int | None = None):
    for r in rows:
        if r["system"] == system and r["workers"] == workers:
            if clients is None or r.get("clients") == clients:
                return r
    return None


def _order(rows: list[dict]) -> list[dict]:
    rank = {name: i for i, name in enumerate(HTTP_ORDER)}
    return sorted(
        rows, key=lambda r: (r["workers"], rank.get(r["system"], 99), r.get("clients"))
    )


def _label(results: dict, system: str) -> str:
    """A system's label: today's wording for a system the suite still has
    (older results files called oneloop's ENGINE under WSGI "installed"),
    else the one recorded in the results file."""
    if system in SYSTEMS:
        return SYSTEMS[system].label
    return results.get("systems", {}).get(system, {}).get("label", system)


def _errors(results: dict) -> list[dict]:
    return [r for r in results.get("http", []) if "error" in r]


def _plots(results: dict, img_dir: str, stem: str) -> list[str]:
    """Bar charts of P1, P2, P4 and P5; returns the image file names."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    # The same results file gives byte-identical SVGs: fixed element ids and
    # no creation date, so re-rendering does not churn the committed images.
    matplotlib.rcParams["svg.hashsalt"] = "bench"
    os.makedirs(img_dir, exist_ok=True)
    made: list[str] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        for ext in ("png", "svg"):
            fig.savefig(
                os.path.join(img_dir, f"{stem}-{name}.{ext}"),
                dpi=110,
                metadata={"Date": None} if ext == "svg" else None,
            )
        plt.close(fig)
        made.append(f"{stem}-{name}.png")

    p1 = {k: v for k, v in results.get("P1", {}).items() if "median" in v}
    if p1:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        names = list(p1)
        ax.barh(names, [p1[n]["median"] for n in names], color="#4c72b0")
        ax.invert_yaxis()
        ax.set_xlabel("µs per indexed lookup (lower is better)")
        ax.set_title("P1 per-query latency, in-process")
        save(fig, "p1")

    workers = sorted({r["workers"] for r in results.get("http", [])})
    for scenario, metric, xlabel in (
        ("P2", "rps", "requests/s (higher is better)"),
        ("P4", "rps", "requests/s (higher is better)"),
        ("P5", "kib_per_request", "KiB RSS per in-flight request (lower is better)"),
        ("P6", "p50_ms", "p50 latency, ms (lower is better)"),
    ):
        rows = [r for r in _http(results, scenario) if r.get(metric) is not None]
        if not rows:
            continue
        fig, axes = plt.subplots(
            1, len(workers), figsize=(6 * len(workers), 4), squeeze=False
        )
        for ax, w in zip(axes[0], workers, strict=True):
            mine = _order([r for r in rows if r["workers"] == w])
            systems = list(dict.fromkeys(r["system"] for r in mine))
            clients = sorted({r["clients"] for r in mine})
            height = 0.8 / len(clients)
            for i, c in enumerate(clients):
                values = [
                    (_find(mine, s, w, c) or {}).get(metric) or 0 for s in systems
                ]
                ax.barh(
                    [j + i * height for j in range(len(systems))],
                    values,
                    height=height,
                    label=f"{c} clients",
                )
            ax.set_yticks(
                [j + height * (len(clients) - 1) / 2 for j in range(len(systems))]
            )
            ax.set_yticklabels(systems)
            ax.invert_yaxis()
            ax.set_xlabel(xlabel)
            ax.set_title(f"{scenario}, {w} worker process(es)")
            if len(clients) > 1:
                ax.legend(fontsize="small")
        save(fig, scenario.lower())
    return made


def _clean(row: dict[str, Any] | None) -> bool:
    """True when a wrk row has figures and at most 0.1 % failed requests:
    fast error responses must never pass for throughput."""
    if not row or not row.get("rps"):
        return False
    failed = row.get("socket_errors", 0) + row.get("non_2xx", 0)
    return failed <= 0.001 * max(row.get("requests", 0), 1)


def _unclean_reason(row: dict[str, Any]) -> str:
    """What the ratio column says instead of a ratio for an unclean row."""
    if not row.get("requests"):
        return "none completed"
    return "failed requests"


def _best(rows: list[dict], systems: Iterable[str], workers: int, clients: int):
    """The clean row with most req/s among ``systems`` at this width, or None."""
    found = [_find(rows, s, workers, clients) for s in systems]
    found = [r for r in found if _clean(r)]
    return max(found, key=lambda r: r["rps"]) if found else None


def spread(samples: list[float]) -> float | None:
    """The run's own noise for one system: (largest - smallest sample) /
    median of its repeated samples; None with fewer than two samples."""
    if len(samples) < 2:
        return None
    middle = statistics.median(samples)
    return (max(samples) - min(samples)) / middle if middle else None


def versus(base: list[float], other: list[float]) -> dict[str, Any] | None:
    """``other`` against ``base`` (repeated samples of each): both medians,
    their ratio, the noise (the larger repeat spread of the two) and whether
    the ratio differs from 1 by no more than that noise (None: unknown, when
    neither side has two samples)."""
    if not base or not other or not statistics.median(base):
        return None
    b, o = statistics.median(base), statistics.median(other)
    spreads = [x for x in (spread(base), spread(other)) if x is not None]
    noise = max(spreads) if spreads else None
    ratio = o / b
    return {
        "base": b,
        "other": o,
        "ratio": ratio,
        "noise": noise,
        "within": None if noise is None else abs(ratio - 1) <= noise,
        "samples": [len(base), len(other)],
    }


P3_VARIANTS = {
    "app": "oneloop in INSTALLED_APPS",
    "engine": "oneloop's ENGINE, no loop",
}
"""P3's two variants: installed vs not (``"oneloop"`` in INSTALLED_APPS,
nothing else changed: the P3 promise), and oneloop's ENGINE (a separate
figure)."""


def _samples(entry: dict[str, Any] | None) -> list[float]:
    if not entry or "error" in entry:
        return []
    return list(entry.get("samples") or [entry["median"]])


def p3_rows(results: dict) -> list[dict[str, Any]]:
    """Every P3 comparison of a results file, one dict each: ``variant``
    (a key of P3_VARIANTS), ``measure``, ``unit``, ``digits``, ``higher``
    (True when higher is better), ``cmp`` (:func:`versus`, or None) and
    ``note`` (why a comparison is missing or weaker)."""
    p3 = results.get("P3", {})
    lat, start = p3.get("latency", {}), p3.get("startup", {})
    rows: list[dict[str, Any]] = []
    for variant, lat_key, start_key, wsgi_key in (
        ("app", "stockapp-plain", "stock+app", "wsgi-app"),
        ("engine", "oneloop-plain", "oneloop", "wsgi-oneloop"),
    ):
        base = {"variant": variant, "note": None}
        rows.append({
            **base, "measure": "`first()` with no loop", "unit": "µs", "digits": 1,
            "higher": False,
            "cmp": versus(_samples(lat.get("stock-sync")), _samples(lat.get(lat_key))),
        })  # fmt: skip
        rows.append({
            **base, "measure": "`manage.py check`", "unit": "s", "digits": 3,
            "higher": False,
            "cmp": versus(_samples(start.get("stock")), _samples(start.get(start_key))),
        })  # fmt: skip
        wsgi = {"measure": "WSGI P4", "unit": "req/s", "digits": 0, "higher": True}
        if "wsgi" in p3:
            for entry in p3["wsgi"]:
                systems = entry["systems"]
                if wsgi_key not in systems:
                    continue
                clean = {
                    name: [r["rps"] for r in s.get("rows", []) if _clean(r)]
                    for name, s in systems.items()
                }
                rows.append({
                    **base, **wsgi,
                    "measure": f"WSGI P4 at {entry['workers']} worker(s)",
                    "cmp": versus(clean.get("wsgi", []), clean[wsgi_key]),
                    "note": systems[wsgi_key].get("error")
                    or systems["wsgi"].get("error"),
                })  # fmt: skip
            continue
        # Results files made before the side-by-side rounds: no installed-vs-
        # not WSGI run, and one P4 measurement of oneloop's ENGINE.
        p4 = _http(results, "P4")
        if variant == "app":
            rows.append({**base, **wsgi, "cmp": None,
                         "note": "not measured in this results file"})  # fmt: skip
            continue
        for w in sorted({r["workers"] for r in p4}):
            stock, ours = _find(p4, "wsgi", w), _find(p4, wsgi_key, w)
            if _clean(stock) and _clean(ours):
                rows.append({
                    **base, **wsgi, "measure": f"WSGI P4 at {w} worker(s)",
                    "cmp": versus([stock["rps"]], [ours["rps"]]),
                    "note": "one measurement each, in separate places of the run",
                })  # fmt: skip
    return rows


def verdict(row: dict[str, Any]) -> str:
    """Plain words: is this P3 ratio within the run's own noise?"""
    c = row["cmp"]
    if c is None:
        return row["note"] or "not measured"
    if c["within"] is None:
        return "noise unknown (one sample each)"
    if c["within"]:
        return "within noise"
    worse = (c["ratio"] < 1) if row["higher"] else (c["ratio"] > 1)
    return f"outside noise, {'slower' if worse else 'faster'}"


def _p3_phrase(row: dict[str, Any]) -> str:
    """One P3 comparison in the headline: absolute numbers, ratio, verdict."""
    c, d, unit = row["cmp"], row["digits"], row["unit"]
    if c is None:
        return f"{row['measure']}: {verdict(row)}"
    noise = f": repeat spread {c['noise'] * 100:.0f} %" if c["noise"] else ""
    return (
        f"{row['measure']} {c['other']:,.{d}f} vs {c['base']:,.{d}f} {unit} "
        f"(**{c['ratio']:.2f}x**, {verdict(row)}{noise})"
    )


def p3_bullets(results: dict) -> list[str]:
    """P3 as Markdown bullets, one per variant: each ratio next to its
    absolute numbers and its noise verdict (the headline's and evidence.md
    §4's wording)."""
    out = []
    p3 = p3_rows(results)
    for variant, label in P3_VARIANTS.items():
        mine = [row for row in p3 if row["variant"] == variant]
        if not mine:
            continue
        measured = [
            row for row in mine if row["cmp"] and row["cmp"]["within"] is not None
        ]
        within = sum(row["cmp"]["within"] for row in measured)
        title = (
            'installed vs not (`"oneloop"` in INSTALLED_APPS, nothing else changed)'
            if variant == "app"
            else f"{label} (a separate figure, not installed vs not)"
        )
        out.append(
            f"- **P3** {title}, against stock: "
            + "; ".join(_p3_phrase(row) for row in mine)
            + f". Within noise: {within} of {len(measured)}."
        )
    return out


def headline(results: dict, results_name: str) -> list[str]:
    """The headline ratios (oneloop / peers), each next to its absolute
    numbers, as Markdown bullet points. Used by benchmarks.md and, for a
    full run, by the generated block of docs/evidence.md."""
    out: list[str] = []
    p1 = results.get("P1", {})
    ol, sync, asy = (
        p1.get(k, {}).get("median")
        for k in ("oneloop-async", "stock-sync", "stock-async")
    )
    if ol and sync and asy:
        out.append(
            f"- **P1** oneloop `afirst()` {ol:.0f} µs vs stock `first()` {sync:.0f} µs "
            f"(**{ol / sync:.2f}x**) and stock `afirst()` {asy:.0f} µs "
            f"(**{ol / asy:.2f}x**)."
        )
    for workers in sorted({r["workers"] for r in results.get("http", [])}):
        p2 = _http(results, "P2")
        for clients in sorted({r["clients"] for r in p2}):
            best = _best(p2, ("oneloop-sync", "oneloop-async"), workers, clients)
            if not best:
                continue
            parts = []
            for peer in ("asgi-sync", "asgi-async", "wsgi", "gevent", "fastapi", "raw"):
                r = _find(p2, peer, workers, clients)
                if _clean(r):
                    parts.append(
                        f"{peer} {r['rps']:.0f} ({best['rps'] / r['rps']:.2f}x)"
                    )
            p99 = best.get("p99_ms")
            p50 = best.get("p50_ms")
            tail = f", p99/p50 {p99 / p50:.2f}" if p99 and p50 else ""
            cpu = best.get("cpu_us_per_request")
            cpu_text = f", {cpu:.0f} µs CPU/req" if cpu else ""
            out.append(
                f"- **P2** {clients} clients, {workers} worker(s): {best['system']} "
                f"{best['rps']:.0f} req/s{cpu_text}{tail}; vs " + ", ".join(parts) + "."
            )
        p4 = _http(results, "P4")
        best = _best(p4, ("oneloop-sync", "oneloop-async"), workers, 50)
        if best:
            parts = []
            for peer in ("asgi-sync", "asgi-async", "wsgi", "gevent", "fastapi", "raw"):
                r = _find(p4, peer, workers)
                if _clean(r):
                    parts.append(
                        f"{peer} {r['rps']:.0f} ({best['rps'] / r['rps']:.2f}x)"
                    )
            out.append(
                f"- **P4** {workers} worker(s): {best['system']} {best['rps']:.0f} "
                "req/s; vs " + ", ".join(parts) + "."
            )
        p5 = _http(results, "P5")
        mine = [
            r
            for r in (_find(p5, s, workers) for s in ("oneloop-sync", "oneloop-async"))
            if r
        ]
        if mine:
            parts = []
            for peer in ("asgi-sync", "gevent", "fastapi", "raw"):
                r = _find(p5, peer, workers)
                if r:
                    parts.append(f"{peer} {r['kib_per_request']:.1f} KiB")
            out.append(
                f"- **P5** {workers} worker(s), {mine[0]['clients']} in flight: "
                + ", ".join(
                    f"{r['system']} {r['kib_per_request']:.1f} KiB/request "
                    f"({r['idle_threads']} → {r['peak_threads']} threads"
                    + (f", {r['failed']} failed" if r.get("failed") else "")
                    + ")"
                    for r in mine
                )
                + "; vs "
                + ", ".join(parts)
                + "."
            )
        p6 = _http(results, "P6")
        for system in ("oneloop-sync", "oneloop-async"):
            r6 = _find(p6, system, workers)
            one = _find(
                p2, system, workers, min((r["clients"] for r in p2), default=None)
            )
            if _clean(r6) and _clean(one):
                out.append(
                    f"- **P6** {workers} worker(s): {system} 5 queries "
                    f"{r6['p50_ms']:.1f} ms p50 vs one query {one['p50_ms']:.1f} ms "
                    f"(**{r6['p50_ms'] / one['p50_ms']:.2f}x**)."
                )
    out += p3_bullets(results)
    p7 = results.get("P7", {})
    a = p7.get("asgiref", {}).get("to_sync", {}).get("median")
    b = p7.get("oneloop-bridge", {}).get("to_sync", {}).get("median")
    if a and b:
        out.append(
            f"- **P7** one async→sync call: asgiref {a:.1f} µs, oneloop {b:.2f} µs "
            f"(**{b / a:.3f}x**)."
        )
    if out:
        out.append(f"\n(From `{results_name}`.)")
    return out


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
        *_table([*header, "on / off"], [row]),
        "Watchdog on: `oneloop.watchdog.start_watchdog(loop, 100)` (the ASGI "
        "handler's default threshold) running while the crossings are timed; "
        "off and on alternate in one process.",
        "",
    ]


def update_evidence(path: str, block: list[str]) -> bool:
    """Replace the generated block of docs/evidence.md (between
    ``<!-- bench:headline:start -->`` and ``end``); False if it has none."""
    return pages.replace_block(path, "headline", block)


def render(path: str, out_dir: str) -> str:
    """Write ``out_dir/benchmarks.md`` (and plots) from the results file."""
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    img_dir = os.path.join(out_dir, "img")
    stem = "bench"
    images = _plots(results, img_dir, stem)
    m = results["machine"]
    mode = results["mode"]
    rel = os.path.relpath(path, out_dir)
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `python -m bench report` from [`{os.path.basename(path)}`]"
        f"({rel}) — a **{mode['name']}** run. Do not edit by hand: re-run the "
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

    lines += [METHOD]
    heads = headline(results, os.path.basename(path))
    if heads:
        lines += ["## Headline ratios", "", *heads, ""]
    if os.path.abspath(out_dir) == os.path.abspath(DOCS_DIR):
        update_evidence(os.path.join(DOCS_DIR, "evidence.md"), heads)
        from bench import evidence  # it reads this module's helpers

        evidence.update(
            os.path.join(DOCS_DIR, "evidence.md"), results, os.path.basename(path)
        )
        pages.refresh()  # asgi.md, cache.md, mail.md from their own results

    # Systems and how each is configured.
    configs = {}
    for r in results.get("http", []):
        configs.setdefault((r["system"], r["workers"]), r["config"])
    for entry in results.get("P3", {}).get("wsgi", []):
        for name, system in entry["systems"].items():
            configs.setdefault((name, entry["workers"]), system["config"])
    lines += ["## Systems", ""]
    lines += _table(
        ["system", "workers", "configuration"],
        [
            (f"{s} — {_label(results, s)}", w, c)
            for (s, w), c in sorted(
                configs.items(),
                key=lambda i: (
                    i[0][1],
                    HTTP_ORDER.index(i[0][0]) if i[0][0] in HTTP_ORDER else 99,
                ),
            )
        ],
    )
    lines += [
        "All Django systems run the middleware and apps of `startproject` "
        "(security, sessions, common, CSRF, auth, messages, clickjacking) and "
        "`DEBUG = False`.",
        "",
        PEERS,
    ]

    # P1
    p1 = results.get("P1", {})
    base = p1.get("stock-sync", {}).get("median")
    stock_async = p1.get("stock-async", {}).get("median")
    lines += ["## P1 per-query latency in-process", ""]
    lines += _table(
        ["system", "µs per call (median)", "x stock sync", "x stock afirst"],
        [
            (
                P1_LABELS.get(name, name),
                _fmt(r.get("median"), 1)
                if "error" not in r
                else f"error: {r['error']}",
                _ratio(r.get("median"), base),
                _ratio(r.get("median"), stock_async),
            )
            for name, r in p1.items()
        ],
    )
    if f"{stem}-p1.png" in images:
        lines += [f"![P1](img/{stem}-p1.png)", ""]

    # P2, P4, P6
    for scenario, title in (
        ("P2", "P2 IO-bound throughput (one 50 ms query per request)"),
        ("P4", "P4 CPU-bound (one query for 20 rows + a template)"),
        ("P6", "P6 fan-out (5 independent 50 ms queries per request)"),
    ):
        rows = _order(_http(results, scenario))
        if not rows:
            continue
        lines += [f"## {title}", ""]
        lines += _table(
            ["system", "workers", "clients", "req/s", "p50 ms", "p99 ms",
             "CPU µs/req", "errors", "x Django ASGI same view kind"],
            [
                (
                    r["system"], r["workers"], r["clients"], _fmt(r.get("rps")),
                    _fmt(r.get("p50_ms"), 1), _fmt(r.get("p99_ms"), 1),
                    _fmt(r.get("cpu_us_per_request")),
                    r.get("socket_errors", 0) + r.get("non_2xx", 0),
                    _unclean_reason(r) if not _clean(r) else _ratio(
                        r.get("rps"),
                        (_find(rows, "asgi-async" if "async" in r["system"]
                               or r["system"] in {"fastapi", "raw"} else "asgi-sync",
                               r["workers"], r["clients"]) or {}).get("rps"),
                    ),
                )
                for r in rows
            ],
        )  # fmt: skip
        if f"{stem}-{scenario.lower()}.png" in images:
            lines += [f"![{scenario}](img/{stem}-{scenario.lower()}.png)", ""]

    # P5
    rows = _order(_http(results, "P5"))
    if rows:
        lines += ["## P5 memory per in-flight request", ""]
        lines += _table(
            ["system", "workers", "in flight", "idle RSS MiB", "peak RSS MiB",
             "KiB per request", "threads idle → peak", "failed"],
            [
                (
                    r["system"], r["workers"], r["clients"],
                    _fmt(r["idle_rss_kib"] / 1024, 1),
                    _fmt(r["peak_rss_kib"] / 1024, 1),
                    _fmt(r["kib_per_request"], 1),
                    f"{r['idle_threads']} → {r['peak_threads']}", r["failed"],
                )
                for r in rows
            ],
        )  # fmt: skip
        if f"{stem}-p5.png" in images:
            lines += [f"![P5](img/{stem}-p5.png)", ""]

    # P3
    p3 = p3_rows(results)
    if p3:
        lines += [
            "## P3 sync deployment cost",
            "",
            "Noise is this run's own repeat spread: each system is measured "
            "several times, and its spread is (largest - smallest sample) / "
            "median. A ratio is **within noise** when it differs from 1.00x by "
            "no more than the larger spread of the two systems compared. Values "
            "are medians; the ratio is oneloop's value / stock's.",
            "",
        ]
        if "wsgi" not in results.get("P3", {}):
            lines += [
                "This results file predates the side-by-side P3 rounds: its "
                "`first()` samples are repeats inside one process per system, "
                "its start-up samples consecutive runs of each system, and it "
                "has no WSGI run with oneloop in INSTALLED_APPS; its WSGI figure "
                "for oneloop's ENGINE is one P4 measurement against the `wsgi` "
                "row of P4. The next suite run measures all of them in rounds.",
                "",
            ]
        for variant, label in P3_VARIANTS.items():
            mine = [row for row in p3 if row["variant"] == variant]
            lines += [
                '### Installed vs not: `"oneloop"` in INSTALLED_APPS, nothing '
                "else changed"
                if variant == "app"
                else "### oneloop's ENGINE with no loop running (a separate "
                "figure, not installed vs not)",
                "",
            ]
            table = []
            for row in mine:
                c, d = row["cmp"], row["digits"]
                if c is None:
                    table.append((f"{row['measure']} ({row['unit']})", "-", "-",
                                  "-", "-", "-", verdict(row)))  # fmt: skip
                    continue
                table.append((
                    f"{row['measure']} ({row['unit']})",
                    _fmt(c["base"], d), _fmt(c["other"], d),
                    f"{c['ratio']:.2f}x", f"{(c['ratio'] - 1) * 100:+.1f} %",
                    "-" if c["noise"] is None else f"{c['noise'] * 100:.1f} %",
                    verdict(row)
                    + (f"; {c['samples'][0]} + {c['samples'][1]} samples"
                       if c["within"] is not None else "")
                    + (f"; {row['note']}" if row["note"] else ""),
                ))  # fmt: skip
            lines += _table(
                ["measure", "stock", label, "ratio", "difference",
                 "noise (repeat spread)", "verdict"],
                table,
            )  # fmt: skip
            measured = [r for r in mine if r["cmp"] and r["cmp"]["within"] is not None]
            inside = [r["measure"] for r in measured if r["cmp"]["within"]]
            outside = [
                f"{r['measure']} ({r['cmp']['ratio']:.2f}x against a "
                f"{r['cmp']['noise'] * 100:.1f} % spread)"
                for r in measured
                if not r["cmp"]["within"]
            ]
            missing = [r["measure"] for r in mine if r not in measured]
            words = []
            if inside:
                words.append("Within noise: " + ", ".join(inside))
            if outside:
                words.append("Outside noise: " + ", ".join(outside))
            if missing:
                words.append("No verdict (see the table): " + ", ".join(missing))
            if outside:
                lead = "The promise (within noise) does not hold everywhere"
            elif measured and missing:
                lead = "The promise (within noise) holds for every figure measured"
            elif measured:
                lead = "The promise (within noise) holds"
            else:
                lead = "No verdict"
            first = (
                f"{lead} in this run."
                if variant == "app"
                else "Read the same way for oneloop's ENGINE."
            )
            lines += [" ".join([first, *(w + "." for w in words)]), ""]

    # P7
    p7 = results.get("P7", {})
    if p7:
        lines += ["## P7 one sync↔async crossing", ""]
        rows7 = []
        for name, label in (("asgiref", "asgiref"), ("oneloop-bridge", "oneloop")):
            r = p7.get(name, {})
            if "error" in r:
                rows7.append((label, f"error: {r['error']}", ""))
                continue
            rows7.append(
                (
                    label,
                    _fmt(r.get("to_sync", {}).get("median"), 2),
                    _fmt(r.get("to_async", {}).get("median"), 2),
                )
            )
        lines += _table(
            ["bridge", "async → sync call, µs", "sync → async call, µs"], rows7
        )
        lines += [
            "asgiref: `await sync_to_async(f)()` and `async_to_sync(coro_fn)()` "
            "from a plain thread; oneloop: `await run_sync(f)` and `await_(coro)` "
            "inside a bridge. Each is a round trip of a no-op.",
            "",
        ]
        lines += watchdog_lines(p7)

    dup = results.get("duplication", {})
    if "django" in dup and "oneloop" in dup:
        lines += ["## Sync/async twin code", ""]
        lines += _table(
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
        lines += [
            "Counted by `python -m bench.duplication`: an `async def aX` defined "
            "in the same class or module as a `def X`, tests excluded.",
            "",
        ]

    errors = _errors(results)
    if errors:
        lines += ["## Systems that did not run", ""]
        lines += _table(
            ["system", "workers", "why"],
            [(r["system"], r["workers"], r["error"]) for r in errors],
        )
    with open(os.path.join(out_dir, "benchmarks.md"), "w", encoding="utf-8") as out:
        out.write("\n".join(lines))
    return out_dir
