"""The generated blocks of docs/evidence.md, one per section (§1..§5).

``python -m bench report`` writes each between ``<!-- bench:evidence-N:start
-->`` and ``end``. §1 to §4 come from the newest full results file: every
number is read from that file, next to its ratio and the system, worker
count and clients it comes from; a figure the file lacks reads "not
measured in this results file". The performance targets live in
:data:`TARGETS`, once. §5, duplication, is measured on the source when the
report is rendered (:func:`section5`), so it follows the code, not a run.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from bench.render import p3
from bench.render.markdown import table
from bench.results import clean, fastest, find, http

MISSING = "not measured in this results file"
ONELOOP = ("oneloop-sync", "oneloop-async")
STOCK_ASGI = ("asgi-sync", "asgi-async")
PEERS = ("wsgi", "gevent", "fastapi", "raw")
"""The peers §3 sets against oneloop's best variant."""

TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    # The project's performance targets (PERFORMANCE.md, "Targets for
    # oneloop"), as ratios within one run: (key, what, "<=" or ">=", limit,
    # unit). evidence.md §3 states met or missed for each, computed here.
    ("p1", "P1 oneloop `afirst()` / stock sync `first()`", "<=", 1.05, "x"),
    ("p2_gevent", "P2 c100 req/s / gevent-Django", ">=", 1.0, "x"),
    ("p2_cpu", "P2 c100 CPU per request", "<=", 1250, "µs"),
    ("p2_tail", "P2 c100 p99 / p50", "<=", 1.5, "x"),
    ("p2_c10", "P2 c10 req/s / the ideal 200 req/s", ">=", 0.95, "x"),
    ("p3", 'P3 `"oneloop"` installed / stock, each measure', "<=", 1.01, "x"),
    ("p4_gevent", "P4 req/s / gevent-Django", ">=", 1.0, "x"),
    ("p4_wsgi", "P4 req/s / WSGI", ">=", 1.0, "x"),
    ("p5", "P5 KiB per in-flight request", "<=", 10, "KiB"),
    ("p5_threads", "P5 thread growth under load", "<=", 0, "threads"),
    ("p6", "P6 5 fanned-out queries / one query, p50", "<=", 1.2, "x"),
    ("p7", "P7 one async→sync crossing", "<=", 2.0, "µs"),
)
IDEAL_C10 = 200.0
"""10 clients each waiting 50 ms per request: at most 200 req/s."""


def _x(a: float, b: float) -> str:
    return f"{a / b:.2f}x"


def _workers(results: dict) -> list[int]:
    return sorted({r["workers"] for r in results.get("http", []) if "error" not in r})


def _clients(results: dict, scenario: str) -> list[int]:
    return sorted({r["clients"] for r in http(results, scenario) if "clients" in r})


def _median(entry: dict | None) -> float | None:
    return (entry or {}).get("median")


def _p7(results: dict, system: str) -> float | None:
    return _median(results.get("P7", {}).get(system, {}).get("to_sync"))


def _one_query(results: dict, system: str, workers: int) -> dict | None:
    """The P2 row at the fewest clients: one 50 ms query's latency."""
    clients = _clients(results, "P2")
    return find(http(results, "P2"), system, workers, clients[0]) if clients else None


def _p4_clients(results: dict) -> int:
    return results.get("mode", {}).get("p4_clients", 50)


def _best_p5(results: dict, workers: int) -> dict | None:
    """oneloop's variant with the fewest KiB per in-flight request."""
    rows = [find(http(results, "P5"), s, workers) for s in ONELOOP]
    rows = [r for r in rows if r and r.get("kib_per_request") is not None]
    return min(rows, key=lambda r: r["kib_per_request"]) if rows else None


def _best_p6(results: dict, workers: int) -> tuple[dict, dict] | None:
    """oneloop's variant with the lowest fan-out / one-query ratio."""
    found = []
    for system in ONELOOP:
        r6 = find(http(results, "P6"), system, workers)
        one = _one_query(results, system, workers)
        if clean(r6) and clean(one):
            found.append((r6, one))
    return min(found, key=lambda p: p[0]["p50_ms"] / p[1]["p50_ms"]) if found else None


# --- §1 where stock async Django loses -----------------------------------------


def section1(results: dict) -> list[str]:
    out = []
    p1 = results.get("P1", {})
    sync, asy = _median(p1.get("stock-sync")), _median(p1.get("stock-async"))
    out.append(
        f"- **P1** stock `afirst()` {asy:.0f} µs vs stock `first()` {sync:.0f} µs "
        f"(**{_x(asy, sync)}**): the `sync_to_async` wrapper adds {asy - sync:.0f} µs "
        "to every query (in-process, one lookup at a time)."
        if sync and asy
        else f"- **P1** stock `afirst()` vs `first()`: {MISSING}."
    )
    a, b = _p7(results, "asgiref"), _p7(results, "oneloop-bridge")
    out.append(
        f"- **P7** one `sync_to_async` crossing {a:.1f} µs vs one bridge crossing "
        f"{b:.2f} µs (**{_x(a, b)}** as long; no-op round trips, in-process)."
        if a and b
        else f"- **P7** `sync_to_async` vs bridge crossing: {MISSING}."
    )
    p2 = http(results, "P2")
    for workers in _workers(results):
        parts = []
        for clients in [c for c in _clients(results, "P2") if c >= 100]:
            wsgi = find(p2, "wsgi", workers, clients)
            if not clean(wsgi):
                parts.append(f"{clients} clients: wsgi {MISSING}")
                continue
            cells = []
            for system in STOCK_ASGI:
                r = find(p2, system, workers, clients)
                cells.append(
                    f"{system} {r['rps']:.0f} req/s (**{_x(r['rps'], wsgi['rps'])}**"
                    f", {r['cpu_us_per_request']:.0f} µs CPU/req)"
                    if clean(r) and r.get("cpu_us_per_request")
                    else f"{system} {MISSING}"
                )
            parts.append(
                f"{clients} clients: " + ", ".join(cells)
                + f" vs wsgi {wsgi['rps']:.0f} req/s"
                + (f" ({wsgi['cpu_us_per_request']:.0f} µs CPU/req)"
                   if wsgi.get("cpu_us_per_request") else "")
            )  # fmt: skip
        if parts:
            out.append(
                f"- **P2** stock ASGI vs WSGI, {workers} worker(s): "
                + "; ".join(parts)
                + "."
            )
    if not _workers(results):
        out.append(f"- **P2** stock ASGI vs WSGI: {MISSING}.")
    p5 = []
    for workers in _workers(results):
        for system in STOCK_ASGI:
            r = find(http(results, "P5"), system, workers)
            if r and r.get("kib_per_request") is not None:
                p5.append(
                    f"{system} {r['kib_per_request']:.1f} KiB/request, threads "
                    f"{r['idle_threads']} → {r['peak_threads']} "
                    f"({workers} worker(s), {r['clients']} in flight)"
                )
    out.append(
        "- **P5** stock ASGI, memory and threads with requests in flight: "
        + "; ".join(p5)
        + "."
        if p5
        else f"- **P5** stock ASGI memory and threads: {MISSING}."
    )
    return out


# --- §2 where oneloop wins ------------------------------------------------------


def section2(results: dict) -> list[str]:
    out = []
    p2 = http(results, "P2")
    for workers in _workers(results):
        parts = []
        for clients in _clients(results, "P2"):
            best = fastest(p2, ONELOOP, workers, clients)
            if not best:
                parts.append(f"{clients} clients: oneloop {MISSING}")
                continue
            asgi = fastest(p2, STOCK_ASGI, workers, clients)
            peers = [("stock ASGI", asgi)] + [
                (name, find(p2, name, workers, clients))
                for name in ("wsgi", "gevent", "fastapi")
            ]
            cells = [
                f"{_x(best['rps'], r['rps'])} {name}" for name, r in peers if clean(r)
            ]
            tail = (
                f", p99/p50 {best['p99_ms'] / best['p50_ms']:.2f}"
                if best.get("p99_ms") and best.get("p50_ms")
                else ""
            )
            parts.append(
                f"{clients} clients {best['system']} {best['rps']:.0f} req/s = "
                + ", ".join(cells)
                + tail
            )
        out.append(f"- **P2** {workers} worker(s): " + "; ".join(parts) + ".")
    if not _workers(results):
        out.append(f"- **P2** oneloop vs peers: {MISSING}.")
    p6 = []
    for workers in _workers(results):
        pair = _best_p6(results, workers)
        if not pair:
            continue
        r6, one = pair
        stock = find(http(results, "P6"), "wsgi", workers)
        p6.append(
            f"{workers} worker(s) {r6['system']} {r6['p50_ms']:.1f} ms p50 = "
            f"**{_x(r6['p50_ms'], one['p50_ms'])}** one query "
            f"({one['p50_ms']:.1f} ms)"
            + (
                f" and **{_x(r6['p50_ms'], stock['p50_ms'])}** stock sequential "
                f"(wsgi {stock['p50_ms']:.1f} ms)"
                if clean(stock)
                else ""
            )
        )
    out.append(
        "- **P6** five 50 ms queries fanned out from one request: "
        + "; ".join(p6)
        + "."
        if p6
        else f"- **P6** fan-out: {MISSING}."
    )
    p5 = []
    for workers in _workers(results):
        best = _best_p5(results, workers)
        asgi = find(http(results, "P5"), "asgi-sync", workers)
        if not best:
            continue
        p5.append(
            f"{workers} worker(s) {best['system']} {best['kib_per_request']:.1f} "
            f"KiB/request, threads {best['idle_threads']} → {best['peak_threads']}"
            + (
                f" (**{_x(best['kib_per_request'], asgi['kib_per_request'])}** "
                f"asgi-sync's {asgi['kib_per_request']:.1f} KiB)"
                if asgi and asgi.get("kib_per_request")
                else ""
            )
        )
    out.append(
        f"- **P5** {results.get('mode', {}).get('p5_inflight', '')} requests in "
        "flight: " + "; ".join(p5) + "."
        if p5
        else f"- **P5** memory per in-flight request: {MISSING}."
    )
    p4, clients, p4_parts = http(results, "P4"), _p4_clients(results), []
    for workers in _workers(results):
        best = fastest(p4, ONELOOP, workers, clients)
        if not best:
            continue
        cells = [
            f"**{_x(best['rps'], r['rps'])}** {name} ({r['rps']:.0f})"
            for name in (*STOCK_ASGI, "wsgi")
            if clean(r := find(p4, name, workers, clients))
        ]
        p4_parts.append(
            f"{workers} worker(s) {best['system']} {best['rps']:.0f} req/s = "
            + ", ".join(cells)
        )
    out.append(
        f"- **P4** CPU-bound, {clients} clients: " + "; ".join(p4_parts) + "."
        if p4_parts
        else f"- **P4** CPU-bound: {MISSING}."
    )
    return out


# --- §3 where oneloop is still behind -------------------------------------------


def _behind(results: dict) -> list[str]:
    """Every row where a peer beats oneloop's best variant, by scenario."""
    out = []
    higher = {"P2": "rps", "P4": "rps"}
    for scenario, metric in (*higher.items(), ("P5", "kib_per_request"),
                             ("P6", "p50_ms")):  # fmt: skip
        rows, found = http(results, scenario), []
        for workers in _workers(results):
            clients = _clients(results, scenario)
            for c in clients:
                if scenario in higher:
                    best = fastest(rows, ONELOOP, workers, c)
                elif scenario == "P5":
                    best = _best_p5(results, workers)
                else:
                    best = (_best_p6(results, workers) or (None,))[0]
                if not best or best.get(metric) is None:
                    continue
                for peer in PEERS:
                    r = find(rows, peer, workers, c)
                    if scenario == "P5":
                        ok = r and r.get(metric) is not None
                    else:
                        ok = clean(r)
                    if not ok:
                        continue
                    ratio = best[metric] / r[metric]
                    if (ratio < 1) if scenario in higher else (ratio > 1):
                        unit = " req/s" if scenario in higher else ""
                        digits = 0 if scenario in higher else 1
                        found.append(
                            f"{workers}w c{c} {peer} **{ratio:.3f}x** "
                            f"({best[metric]:,.{digits}f} vs "
                            f"{r[metric]:,.{digits}f}{unit})"
                        )
        what = {
            "P2": "req/s, oneloop's best / the peer",
            "P4": "req/s, oneloop's best / the peer",
            "P5": "KiB per in-flight request, oneloop's best / the peer; "
            "WSGI holds no more requests than its threads",
            "P6": "fan-out p50 ms, oneloop's best / the peer",
        }[scenario]
        out.append(
            f"- **{scenario}** peers ahead ({what}): "
            + ("; ".join(found) if found else "none")
            + "."
        )
    return out


def target_values(results: dict) -> dict[str, list[tuple[str, float]]]:
    """Each target's measured values, as (where, value) pairs; an empty list
    when the results file lacks the figure."""
    values: dict[str, list[tuple[str, float]]] = {key: [] for key, *_ in TARGETS}
    p1 = results.get("P1", {})
    ol, sync = _median(p1.get("oneloop-async")), _median(p1.get("stock-sync"))
    if ol and sync:
        values["p1"].append(("in-process", ol / sync))
    p2, p4 = http(results, "P2"), http(results, "P4")
    for w in _workers(results):
        best = fastest(p2, ONELOOP, w, 100)
        gevent = find(p2, "gevent", w, 100)
        if best:
            where = f"{w}w {best['system']}"
            if clean(gevent):
                values["p2_gevent"].append((where, best["rps"] / gevent["rps"]))
            if best.get("cpu_us_per_request"):
                values["p2_cpu"].append((where, best["cpu_us_per_request"]))
            if best.get("p99_ms") and best.get("p50_ms"):
                values["p2_tail"].append((where, best["p99_ms"] / best["p50_ms"]))
        c10 = fastest(p2, ONELOOP, w, 10)
        if c10:
            values["p2_c10"].append((f"{w}w {c10['system']}", c10["rps"] / IDEAL_C10))
        best4 = fastest(p4, ONELOOP, w, _p4_clients(results))
        for key, peer in (("p4_gevent", "gevent"), ("p4_wsgi", "wsgi")):
            r = find(p4, peer, w, _p4_clients(results))
            if best4 and clean(r):
                values[key].append((f"{w}w {best4['system']}", best4["rps"] / r["rps"]))
        p5 = _best_p5(results, w)
        if p5:
            values["p5"].append((f"{w}w {p5['system']}", p5["kib_per_request"]))
            values["p5_threads"].append(
                (f"{w}w {p5['system']}", p5["peak_threads"] - p5["idle_threads"])
            )
        pair = _best_p6(results, w)
        if pair:
            values["p6"].append(
                (f"{w}w {pair[0]['system']}", pair[0]["p50_ms"] / pair[1]["p50_ms"])
            )
    for row in p3.comparisons(results):
        c = row["cmp"]
        if row["variant"] == "app" and c:
            # a cost: oneloop's time / stock's, or stock's req/s / oneloop's
            values["p3"].append((row["measure"], 1 / c["ratio"] if row["higher"]
                                 else c["ratio"]))  # fmt: skip
    b = _p7(results, "oneloop-bridge")
    if b:
        values["p7"].append(("in-process", b))
    return values


def target_status(
    results: dict,
    targets: tuple[tuple[str, str, str, float, str], ...] = TARGETS,
    values: dict[str, list[tuple[str, float]]] | None = None,
) -> list[dict[str, Any]]:
    """One dict per target of ``targets`` (default: the project's): its
    definition, its ``values`` (default: :func:`target_values`) and ``met``
    (True, False, or None when not measured); met only where every value
    is."""
    if values is None:
        values = target_values(results)
    ops: dict[str, Callable[[float, float], bool]] = {
        "<=": operator.le,
        ">=": operator.ge,
    }
    out = []
    for key, what, op, limit, unit in targets:
        mine = values[key]
        met = all(ops[op](v, limit) for _, v in mine) if mine else None
        out.append({"key": key, "what": what, "op": op, "limit": limit,
                    "unit": unit, "values": mine, "met": met})  # fmt: skip
    return out


def _target_phrase(t: dict[str, Any]) -> str:
    """A target, its limit and each measured value. Ratios get three decimals
    so that a value just past the limit never prints as the limit itself."""
    digits = {"x": 3, "µs": 2, "KiB": 1}.get(t["unit"], 0) if t["limit"] < 100 else 0

    def show(v: float) -> str:
        text = f"{v:,.{digits}f}"
        return f"{text}x" if t["unit"] == "x" else f"{text} {t['unit']}"

    values = ", ".join(f"{where} {show(v)}" for where, v in t["values"]) or MISSING
    sign = "≤" if t["op"] == "<=" else "≥"
    return f"{t['what']} {sign} {show(t['limit'])}: {values}"


def section3(results: dict) -> list[str]:
    out = _behind(results)
    status = target_status(results)
    for label, want in (("Missed", False), ("Met", True), ("Not measured", None)):
        mine = [t for t in status if t["met"] is want]
        if mine:
            out.append(
                f"- **Targets {label.lower()}** ({len(mine)} of {len(status)}): "
                + "; ".join(_target_phrase(t) for t in mine)
                + "."
            )
    return out


# --- §4 what it costs sync users -------------------------------------------------


def section4(results: dict) -> list[str]:
    out = p3.bullets(results)
    if not out:
        return [f"- **P3**: {MISSING}."]
    app = [r for r in p3.comparisons(results) if r["variant"] == "app"]
    outside = [f"{r['measure']} ({p3.verdict(r)})" for r in app
               if r["cmp"] and r["cmp"]["within"] is False]  # fmt: skip
    out.append(
        "- Verdict for installed vs not: "
        + (
            "outside this run's noise for " + ", ".join(outside)
            if outside
            else "within this run's noise wherever measured"
        )
        + "."
    )
    return out


# --- §5 duplication -------------------------------------------------------------


MIRRORED_TARGET = 100
"""The most lines of oneloop that may mirror a Django function."""


def _twins(dup: dict[str, Any]) -> str:
    """The sync/async twin count: ``aX`` beside ``X``, Django vs oneloop."""
    dj, ol = dup["django"], dup["oneloop"]
    return (
        f"- **Async twins** (`async def aX` beside a `def X`): Django {dj['version']} "
        f"carries {dj['twins']} in {dj['files_with_twins']} files, "
        f"{dj['twin_lines']:,} lines ({dj['twin_lines'] / dj['total_lines'] * 100:.1f} "
        f"% of its {dj['total_lines']:,} lines); oneloop carries {ol['twins']} in "
        f"{ol['files_with_twins']} files, {ol['twin_lines']:,} lines "
        f"(**{_x(ol['twin_lines'], dj['twin_lines'])}** Django's twin lines, "
        f"{ol['twin_lines'] / ol['total_lines'] * 100:.1f} % of its "
        f"{ol['total_lines']:,} lines)."
    )


def section5(mirrored: dict[str, Any], twins: dict[str, Any]) -> list[str]:
    """§5 from the source: oneloop's functions that mirror a Django function
    (:func:`bench.mirror.measure`), then the twin count
    (:func:`bench.duplication.measure`)."""
    rows, lines = mirrored["rows"], mirrored["lines"]
    by_hand = sum(not r["generated"] for r in rows)
    met = "met" if lines < MIRRORED_TARGET else "missed"
    out = [
        f"- **Mirrored code**: {by_hand} oneloop functions written by hand, "
        f"**{lines:,} lines** "
        f"({lines / mirrored['total_lines'] * 100:.1f} % of its "
        f"{mirrored['total_lines']:,} lines), have a body that mirrors a function "
        f"of Django {mirrored['django']} (coverage at least "
        f"{mirrored['threshold']:.2f}; {mirrored['short_threshold']:.2f} for a "
        f"body under {mirrored['min_tokens']} tokens, matched by name). Target, "
        f"under {MIRRORED_TARGET} lines written by hand: **{met}**.",
        f"- **Generated from Django's source**: {mirrored['generated_lines']:,} more "
        "lines mirror Django by construction: a script derives them from the "
        "installed Django's own code and the test suite fails when they no "
        "longer match it (psycopg's way), so no hand keeps them in step.",
        _twins(twins),
    ]
    if rows:
        cells = [
            (
                f"`{r['function']}`" + (" (generated)" if r["generated"] else ""),
                r["lines"],
                f"`{r['mirrors']}`",
                f"{r['score']:.2f}",
            )
            for r in rows
        ]
        header = ["oneloop function", "lines", "mirrors (Django)", "coverage"]
        out += ["", *table(header, cells)]
    return [
        *out,
        "",
        f"(Measured on the source of Django {mirrored['django']} and of this "
        "oneloop checkout when the report was rendered.)",
    ]


SECTIONS: dict[str, Callable[[dict], list[str]]] = {
    "evidence-1": section1,
    "evidence-2": section2,
    "evidence-3": section3,
    "evidence-4": section4,
}


def blocks(results: dict, results_name: str) -> dict[str, list[str]]:
    """The generated blocks of evidence.md that come from a results file
    (§1 to §4), by marker name."""
    return {
        name: [*build(results), "", f"(From `{results_name}`.)"]
        for name, build in SECTIONS.items()
    }
