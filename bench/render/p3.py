"""P3, the sync deployment cost: installed vs not, against the run's noise.

A sync deployment should pay nothing for having oneloop installed. Each
figure is set against the run's own repeat spread (:func:`spread`) and
called within or outside noise (:func:`verdict`), in the same words in
benchmarks.md, the headline and evidence.md §4.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.render.markdown import fmt, table
from bench.results import clean, find, http


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


def comparisons(results: dict) -> list[dict[str, Any]]:
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
                rps = {
                    name: [r["rps"] for r in s.get("rows", []) if clean(r)]
                    for name, s in systems.items()
                }
                rows.append({
                    **base, **wsgi,
                    "measure": f"WSGI P4 at {entry['workers']} worker(s)",
                    "cmp": versus(rps.get("wsgi", []), rps[wsgi_key]),
                    "note": systems[wsgi_key].get("error")
                    or systems["wsgi"].get("error"),
                })  # fmt: skip
            continue
        # Results files made before the side-by-side rounds: no installed-vs-
        # not WSGI run, and one P4 measurement of oneloop's ENGINE.
        p4 = http(results, "P4")
        if variant == "app":
            rows.append({**base, **wsgi, "cmp": None,
                         "note": "not measured in this results file"})  # fmt: skip
            continue
        for w in sorted({r["workers"] for r in p4}):
            stock, ours = find(p4, "wsgi", w), find(p4, wsgi_key, w)
            if clean(stock) and clean(ours):
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


def _phrase(row: dict[str, Any]) -> str:
    """One P3 comparison in the headline: absolute numbers, ratio, verdict."""
    c, d, unit = row["cmp"], row["digits"], row["unit"]
    if c is None:
        return f"{row['measure']}: {verdict(row)}"
    noise = f": repeat spread {c['noise'] * 100:.0f} %" if c["noise"] else ""
    return (
        f"{row['measure']} {c['other']:,.{d}f} vs {c['base']:,.{d}f} {unit} "
        f"(**{c['ratio']:.2f}x**, {verdict(row)}{noise})"
    )


def bullets(results: dict) -> list[str]:
    """P3 as Markdown bullets, one per variant: each ratio next to its
    absolute numbers and its noise verdict (the headline's and evidence.md
    §4's wording)."""
    out = []
    p3 = comparisons(results)
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
            + "; ".join(_phrase(row) for row in mine)
            + f". Within noise: {within} of {len(measured)}."
        )
    return out


def tables(results: dict) -> list[str]:
    """benchmarks.md's P3 section: a table per variant and what it says."""
    p3 = comparisons(results)
    if not p3:
        return []
    lines = [
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
            '### Installed vs not: `"oneloop"` in INSTALLED_APPS, nothing else changed'
            if variant == "app"
            else "### oneloop's ENGINE with no loop running (a separate "
            "figure, not installed vs not)",
            "",
        ]
        cells = []
        for row in mine:
            c, d = row["cmp"], row["digits"]
            if c is None:
                cells.append((f"{row['measure']} ({row['unit']})", "-", "-",
                              "-", "-", "-", verdict(row)))  # fmt: skip
                continue
            cells.append((
                f"{row['measure']} ({row['unit']})",
                fmt(c["base"], d), fmt(c["other"], d),
                f"{c['ratio']:.2f}x", f"{(c['ratio'] - 1) * 100:+.1f} %",
                "-" if c["noise"] is None else f"{c['noise'] * 100:.1f} %",
                verdict(row)
                + (f"; {c['samples'][0]} + {c['samples'][1]} samples"
                   if c["within"] is not None else "")
                + (f"; {row['note']}" if row["note"] else ""),
            ))  # fmt: skip
        lines += table(
            ["measure", "stock", label, "ratio", "difference",
             "noise (repeat spread)", "verdict"],
            cells,
        )  # fmt: skip
        lines.append("")
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
    return lines
