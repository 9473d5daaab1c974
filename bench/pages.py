"""Results files and doc-page tables of the three small comparisons.

``python -m bench.asgi_compare``, ``python bench/cache_compare.py`` and
``python bench/mail_compare.py`` each write ``bench/results/<name>-<date>.json``
(their figures, their parameters and the suite's machine metadata,
:func:`bench.suite.machine`) and then render their table into their page
under ``docs/``, between ``<!-- bench:<name>:start -->`` and
``<!-- bench:<name>:end -->``. ``python -m bench report`` re-renders the
three tables from the newest results file of each, without measuring
anything, so every figure on those pages comes from a committed results file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from bench.servers import ROOT

RESULTS_DIR = os.path.join(ROOT, "bench", "results")
DOCS_DIR = os.path.join(ROOT, "docs")
PAGES = {"asgi": "asgi.md", "cache": "cache.md", "mail": "mail.md"}
"""Which page of docs/ shows each comparison."""
COMMANDS = {
    "asgi": "python -m bench.asgi_compare",
    "cache": "python bench/cache_compare.py",
    "mail": "python bench/mail_compare.py",
}


def begin(target: Any = None) -> dict[str, Any]:
    """The suite's machine metadata (:func:`bench.suite.machine`), taken
    before a comparison measures anything; pass it to :func:`save`."""
    from bench.suite import machine

    return machine(target)


def save(kind: str, data: dict[str, Any], machine: dict[str, Any]) -> str:
    """Write ``data`` with ``machine`` (from :func:`begin`, completed with
    the load average at the end) to ``bench/results/<kind>-<date>.json``;
    return its path."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{kind}-{stamp}.json")
    results = {"kind": kind, "machine": machine, **data}
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    with open(path, "w", encoding="utf-8") as out:
        json.dump(results, out, indent=1)
    return path


def publish(kind: str, data: dict[str, Any], machine: dict[str, Any]) -> None:
    """:func:`save` the results, render them into their page, say where."""
    path = save(kind, data, machine)
    page = render_page(kind, path)
    print(
        "results:", os.path.relpath(path, ROOT), "table:", os.path.relpath(page, ROOT)
    )


def replace_block(path: str, name: str, lines: list[str]) -> bool:
    """Replace what lies between ``<!-- bench:NAME:start -->`` and
    ``<!-- bench:NAME:end -->`` in ``path``; False when it has no such block."""
    start_mark, end_mark = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    start, end = text.find(start_mark), text.find(end_mark)
    if start < 0 or end < start:
        return False
    new = text[: start + len(start_mark)] + "\n" + "\n".join(lines) + "\n" + text[end:]
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    return True


def render_page(kind: str, path: str) -> str:
    """Render the results file ``path`` of comparison ``kind`` into its page;
    return the page's path."""
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    page = os.path.join(DOCS_DIR, PAGES[kind])
    lines = RENDER[kind](results, os.path.basename(path))
    if not replace_block(page, kind, lines):
        raise SystemExit(f"{page} has no <!-- bench:{kind}:start/end --> block")
    return page


def refresh() -> list[str]:
    """Re-render every comparison's page from its newest results file."""
    from bench.report import newest

    pages = []
    for kind in PAGES:
        try:
            path = newest(kind)
        except SystemExit:
            continue
        pages.append(render_page(kind, path))
    return pages


# --- rendering ---------------------------------------------------------------


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _source(results: dict[str, Any], name: str, kind: str) -> list[str]:
    """Where the figures come from: results file, command, machine."""
    m = results["machine"]
    load = ", ".join(f"{x:.2f}" for x in m["loadavg_at_start"])
    if "loadavg_at_end" in m:
        load += ", at end " + ", ".join(f"{x:.2f}" for x in m["loadavg_at_end"])
    versions = ", ".join(
        f"{k} {v}" for k, v in m["versions"].items() if v and k in VERSIONS[kind]
    )
    extra = results.get("params", {}).get("server_version")
    return [
        f"Generated from [`{name}`](../bench/results/{name}) (made by "
        f"`{COMMANDS[kind]}`; re-render with `python -m bench report`, do not "
        f"edit by hand): {m['date'][:10]}, {m['cpu_model']}, {m['cpu_count']} "
        f"CPUs shared with the servers, load average at start {load}; "
        f"Python {m['python']}"
        + (f", PostgreSQL {m['postgresql']}" if m.get("postgresql") else "")
        + (f", {extra}" if extra else "")
        + (f", {versions}" if versions else "")
        + ". Compare within one run, as ratios; absolute numbers move between "
        "runs and machines.",
        "",
    ]


VERSIONS = {
    "asgi": ("django", "uvicorn", "uvloop", "gunicorn", "psycopg"),
    "cache": ("django", "asgiref", "uvloop"),
    "mail": ("django", "asgiref", "uvloop"),
}


def render_asgi(results: dict[str, Any], name: str) -> list[str]:
    """docs/asgi.md: throughput and memory, oneloop vs stock ASGI vs WSGI."""
    p = results["params"]
    lines = _source(results, name, "asgi")
    rows = {r["system"]: r for r in results["throughput"]}
    stock = rows.get("stock-asgi", {}).get("rps")
    lines += [
        f"1-query sync view (`{p['view']}`), `wrk -c {p['connections']} "
        f"-d {p['seconds']}s`, one worker process, pool of at most "
        f"{p['pool_max']} connections:",
        "",
    ]
    lines += _table(
        ["system", "req/s", "x stock ASGI", "p50 ms", "p99 ms", "failed requests"],
        [
            [r["label"], _n(r.get("rps")), _ratio(r.get("rps"), stock),
             _n(r.get("p50_ms"), 1), _n(r.get("p99_ms"), 1), r.get("failed", 0)]
            for r in results["throughput"]
        ],
    )  # fmt: skip
    mem = {r["system"]: r for r in results["memory"]}
    stock_kib = mem.get("stock-asgi", {}).get("kib_per_request")
    lines += [
        "",
        f"Memory with {p['in_flight']} requests in flight (each waiting "
        f"`pg_sleep({p['sleep_s']:g})`), RSS of the server process:",
        "",
    ]
    lines += _table(
        ["system", "RSS idle MiB", "RSS in flight MiB", "KiB per request",
         "x stock ASGI", "threads idle → in flight", "answered"],
        [
            [r["label"], _n(r["idle_rss_kib"] / 1024, 1),
             _n(r["busy_rss_kib"] / 1024, 1), _n(r["kib_per_request"], 1),
             _ratio(r["kib_per_request"], stock_kib),
             f"{r['idle_threads']} → {r['busy_threads']}",
             f"{r['ok']}/{p['in_flight']}"]
            for r in results["memory"]
        ],
    )  # fmt: skip
    ours, wsgi = rows.get("oneloop-asgi", {}), rows.get("stock-wsgi", {})
    if ours.get("rps") and wsgi.get("rps"):
        ahead, behind = (wsgi, ours) if wsgi["rps"] > ours["rps"] else (ours, wsgi)
        lines += [
            "",
            f"In this run {ahead['label']} serves {ahead['rps'] / behind['rps']:.2f}x "
            f"the requests/s of {behind['label']}.",
        ]
    return lines


def render_cache(results: dict[str, Any], name: str) -> list[str]:
    """docs/cache.md: µs per call, stock RedisCache vs oneloop's."""
    p = results["params"]
    lines = _source(results, name, "cache")
    lines += [
        f"µs per call, best of {p['rounds']} rounds of {p['calls']:,} calls, "
        "same key and value on one loopback Redis:",
        "",
    ]
    nl = results["no_loop"]
    rows = [
        ["`cache.get()`, no loop running", "-", f"{_n(nl['stock_get_us'], 1)} µs",
         f"{_n(nl['oneloop_get_us'], 1)} µs",
         _ratio(nl["oneloop_get_us"], nl["stock_get_us"])],
    ]  # fmt: skip
    fan = p["fan_out"]
    for loop, r in results["loops"].items():
        rows += [
            ["`await cache.aget()`", loop, f"{_n(r['stock_aget_us'], 1)} µs",
             f"{_n(r['oneloop_aget_us'], 1)} µs",
             _ratio(r["oneloop_aget_us"], r["stock_aget_us"])],
            ["sync `cache.get()` inside a bridge (oneloop only)", loop, "-",
             f"{_n(r['oneloop_bridge_get_us'], 1)} µs", "-"],
            [f"{fan} concurrent `aget()`s, wall time", loop,
             f"{_n(r['stock_fan_out_ms'], 1)} ms",
             f"{_n(r['oneloop_fan_out_ms'], 1)} ms",
             _ratio(r["oneloop_fan_out_ms"], r["stock_fan_out_ms"])],
        ]  # fmt: skip
    lines += _table(
        ["measurement", "loop", "stock `RedisCache`", "oneloop `RedisCache`",
         "oneloop / stock"],
        rows,
    )  # fmt: skip
    lines += ["", "redis-py alone, the same `GET` without Django:", ""]
    lines += _table(
        ["loop", "sync client µs", "`redis.asyncio` µs", "asyncio / sync",
         "oneloop's layer over `redis.asyncio` µs",
         "stock's layer over the sync client µs"],
        [
            [loop, _n(nl["redis_sync_get_us"], 1), _n(r["redis_async_get_us"], 1),
             _ratio(r["redis_async_get_us"], nl["redis_sync_get_us"]),
             _n(r["oneloop_aget_us"] - r["redis_async_get_us"], 1),
             _n(nl["stock_get_us"] - nl["redis_sync_get_us"], 1)]
            for loop, r in results["loops"].items()
        ],
    )  # fmt: skip
    lines += [
        "",
        "A layer is the backend's call minus redis-py's own `GET` in the same "
        "run: key building, getting a client (Django's backend builds a new "
        "`redis.Redis` object for each call), unpickling.",
    ]
    return lines


def render_mail(results: dict[str, Any], name: str) -> list[str]:
    """docs/mail.md: stock send_mail in a thread vs asend_mail."""
    p = results["params"]
    lines = _source(results, name, "mail")
    lines += [
        "Real aiosmtpd servers in separate processes on loopback; stock is "
        "`send_mail` with Django's SMTP backend through asgiref "
        "`sync_to_async`, oneloop is `await asend_mail()` with its backend.",
        "",
    ]
    rows = []
    n, delay = p["concurrent"], p["delay"]
    for loop, r in results["loops"].items():
        c, seq, batch = r["concurrent"], r["sequential"], r["batch"]
        rows += [
            [f"{n} concurrent sends, server delays DATA {delay:g} s", loop,
             f"{c['stock_thread_sensitive_s']:.2f} s (`thread_sensitive=True`, "
             "Django's default: one thread)",
             f"{c['oneloop_s']:.2f} s",
             _ratio(c["oneloop_s"], c["stock_thread_sensitive_s"])],
            ["the same, stock on a thread pool", loop,
             f"{c['stock_thread_pool_s']:.2f} s (`thread_sensitive=False`)",
             f"{c['oneloop_s']:.2f} s",
             _ratio(c["oneloop_s"], c["stock_thread_pool_s"])],
            ["the same, oneloop's sync `send_mail` inside `run_sync`", loop,
             f"{c['stock_thread_sensitive_s']:.2f} s",
             f"{c['bridged_s']:.2f} s",
             _ratio(c["bridged_s"], c["stock_thread_sensitive_s"])],
        ]  # fmt: skip
        parts = [(f"one message per connection, {p['messages']} sequential", seq)]
        if "bridged" in seq:
            parts.append((
                "the same, oneloop's sync `send_mail` inside `run_sync`",
                {"stock": seq["stock"], "oneloop": seq["bridged"]},
            ))  # fmt: skip
        parts.append((f"one message in a {p['messages']}-message batch", batch))
        for label, part in parts:
            for what in ("wall", "cpu"):
                rows.append([
                    f"{label}, {'wall' if what == 'wall' else 'client CPU'}", loop,
                    f"{_n(part['stock'][f'{what}_us'])} µs",
                    f"{_n(part['oneloop'][f'{what}_us'])} µs",
                    _ratio(part["oneloop"][f"{what}_us"], part["stock"][f"{what}_us"]),
                ])  # fmt: skip
    lines += _table(
        ["measurement", "loop", "stock `send_mail` in a thread",
         "oneloop `asend_mail`", "oneloop / stock"],
        rows,
    )  # fmt: skip
    return lines


RENDER = {"asgi": render_asgi, "cache": render_cache, "mail": render_mail}
