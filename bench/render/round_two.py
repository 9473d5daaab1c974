"""benchmarks.md: the targets of performance round two, met or missed.

Each target is computed from the suite's results file, at every worker count
it ran, as a ratio within the run (or an absolute figure where the target is
one); nothing is typed in by hand. Why a target is missed is said in
:data:`WHY`, next to the figures.
"""

from __future__ import annotations

from typing import Any

from bench.render import p3
from bench.render.evidence import (
    ONELOOP,
    _median,
    _p4_clients,
    _p7,
    _workers,
    target_status,
)
from bench.render.markdown import table
from bench.results import clean, fastest, find, http

TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    ("p4_tail", "P4 p99 / p50 at 50 clients, each oneloop view kind", "<=", 2.5, "x"),
    ("p2_gevent", "P2 c100 req/s, best oneloop / gevent-Django", ">=", 1.2, "x"),
    ("p2_fastapi", "P2 c100 req/s, best oneloop / FastAPI", ">=", 1.2, "x"),
    ("cpu", "P2 c100 CPU per request, best oneloop, 1 worker", "<=", 1100, "µs"),
    ("async_rps", "async view / sync view, req/s (P2 c100, P4)", ">=", 0.95, "x"),
    ("async_cpu", "async view / sync view, CPU per request (P2 c100, P4)", "<=",
     1.05, "x"),
    ("p5", "P5 KiB per in-flight request, each oneloop view kind", "<=", 10, "KiB"),
    ("p1", "P1 oneloop `afirst()` / stock sync `first()`", "<=", 1.05, "x"),
    ("p7", "P7 one async→sync crossing", "<=", 2.0, "µs"),
    ("p3_check", '`manage.py check`, `"oneloop"` installed / stock', "<=", 1.02, "x"),
)  # fmt: skip

WHY = {
    "p4_tail": (
        "where the cores are shared (2 workers, PostgreSQL and wrk on 2 "
        "CPUs) every system's p99 grows, gevent's and FastAPI's too (their "
        "P4 rows); with a core to itself the one cause left is uvloop's: "
        "libuv accepts one connection per loop iteration, so a busy loop "
        "takes wrk's 50 connections one by one, with their first request "
        "sent and timed (the P4 tail block below measures it)"
    ),
    "p2_gevent": (
        "at one worker gevent serves more at about the same CPU per request: "
        "oneloop's loop leaves part of its core idle while requests wait, a "
        "gap not closed in this round (at two workers oneloop leads)"
    ),
    "p2_fastapi": ("FastAPI's CPU per request is the lower one where it leads; see P2"),
    "cpu": (
        "Django's own request path (middleware, URL resolving, the ORM) is "
        "most of it: gevent-Django, the same Django code with no bridge, "
        "spends about as much (P2 table); oneloop's own part is a few "
        "crossings and the handler's tasks"
    ),
    "async_rps": (
        "an async view's ORM call crosses from the loop into a bridge and "
        "back, which a sync view, already in its greenlet, does not; it shows "
        "most at P2 and one worker, where a request is one query"
    ),
    "async_cpu": "same cause as the line above",
    "p5": (
        "an async view holds a coroutine and its task beside the bridge's "
        "greenlet for each request in flight"
    ),
    "p1": (
        "oneloop's path, not the driver (raw psycopg's async `execute()` is "
        "no slower than its sync one here): the crossing into the bridge "
        "(P7) and every driver call awaited from it through the facade"
    ),
    "p7": (
        "a crossing is a greenlet switch there and back plus its result "
        "handed through the loop"
    ),
    "p3_check": (
        "the gap is inside this run's repeat spread for the measure (P3 "
        "table): the run cannot tell it from 1.00x"
    ),
}
"""Why each target may be missed: the cause found, as far as it is known."""


def _check_ratio(results: dict) -> list[tuple[str, float]]:
    for row in p3.comparisons(results):
        if row["variant"] == "app" and row["measure"] == "`manage.py check`":
            cmp = row["cmp"]
            return [("start-up", cmp["ratio"])] if cmp else []
    return []


def values(results: dict) -> dict[str, list[tuple[str, float]]]:
    """Each round-two target's measured values, as (where, value) pairs."""
    out: dict[str, list[tuple[str, float]]] = {key: [] for key, *_ in TARGETS}
    p2, p4, p5 = http(results, "P2"), http(results, "P4"), http(results, "P5")
    clients4 = _p4_clients(results)
    for w in _workers(results):
        best = fastest(p2, ONELOOP, w, 100)
        for key, peer in (("p2_gevent", "gevent"), ("p2_fastapi", "fastapi")):
            r = find(p2, peer, w, 100)
            if best and clean(r):
                out[key].append((f"{w}w", best["rps"] / r["rps"]))
        if best and w == 1 and best.get("cpu_us_per_request"):
            out["cpu"].append((f"{w}w {best['system']}", best["cpu_us_per_request"]))
        for system in ONELOOP:
            r = find(p4, system, w, clients4)
            if clean(r) and r.get("p50_ms"):
                out["p4_tail"].append((f"{w}w {system}", r["p99_ms"] / r["p50_ms"]))
            r5 = find(p5, system, w)
            if r5 and r5.get("kib_per_request") is not None:
                out["p5"].append((f"{w}w {system}", r5["kib_per_request"]))
        for scenario, rows, clients in (("P2", p2, 100), ("P4", p4, clients4)):
            sync = find(rows, "oneloop-sync", w, clients)
            async_ = find(rows, "oneloop-async", w, clients)
            if not (clean(sync) and clean(async_)):
                continue
            where = f"{w}w {scenario}"
            out["async_rps"].append((where, async_["rps"] / sync["rps"]))
            if sync.get("cpu_us_per_request") and async_.get("cpu_us_per_request"):
                out["async_cpu"].append(
                    (where, async_["cpu_us_per_request"] / sync["cpu_us_per_request"])
                )
    p1 = results.get("P1", {})
    ol, sync1 = _median(p1.get("oneloop-async")), _median(p1.get("stock-sync"))
    if ol and sync1:
        out["p1"].append(("in-process", ol / sync1))
    crossing = _p7(results, "oneloop-bridge")
    if crossing:
        out["p7"].append(("in-process", crossing))
    out["p3_check"] = _check_ratio(results)
    return out


def section(results: dict) -> list[str]:
    """The round-two targets as a table: goal, figures, met or missed, why."""
    status = target_status(results, TARGETS, values(results))
    rows: list[list[Any]] = []
    for t in status:
        sign = "≤" if t["op"] == "<=" else "≥"
        unit = "x" if t["unit"] == "x" else f" {t['unit']}"
        digits = 2 if t["unit"] == "x" else (1 if t["limit"] < 100 else 0)
        figures = ", ".join(f"{at} {v:,.{digits}f}{unit}" for at, v in t["values"])
        verdict = {True: "met", False: "**missed**", None: "not measured"}[t["met"]]
        rows.append(
            [t["what"], f"{sign} {t['limit']:g}{unit}", figures or "-", verdict,
             WHY[t["key"]] if t["met"] is False else ""]
        )  # fmt: skip
    return [
        "## Targets of performance round two",
        "",
        "Each figure from this run, at every worker count (*1w*, *2w*); a "
        "target is met where every figure is.",
        "",
        *table(["target", "goal", "this run", "", "why, where missed"], rows),
        "",
    ]
