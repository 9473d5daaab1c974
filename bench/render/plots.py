"""The bar charts of benchmarks.md (P1, P2, P4, P5 and P6), as matplotlib
figures; :mod:`bench.publish` saves them next to the page."""

from __future__ import annotations

from typing import Any

from bench.results import find, http, order


def figures(results: dict) -> dict[str, Any]:
    """One figure per scenario the results file has, by lower-case scenario
    name (``"p1"``, ``"p2"``...); none when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    figures: dict[str, Any] = {}
    p1 = {k: v for k, v in results.get("P1", {}).items() if "median" in v}
    if p1:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        names = list(p1)
        ax.barh(names, [p1[n]["median"] for n in names], color="#4c72b0")
        ax.invert_yaxis()
        ax.set_xlabel("µs per indexed lookup (lower is better)")
        ax.set_title("P1 per-query latency, in-process")
        figures["p1"] = fig

    workers = sorted({r["workers"] for r in results.get("http", [])})
    for scenario, metric, xlabel in (
        ("P2", "rps", "requests/s (higher is better)"),
        ("P4", "rps", "requests/s (higher is better)"),
        ("P5", "kib_per_request", "KiB RSS per in-flight request (lower is better)"),
        ("P6", "p50_ms", "p50 latency, ms (lower is better)"),
    ):
        rows = [r for r in http(results, scenario) if r.get(metric) is not None]
        if not rows:
            continue
        fig, axes = plt.subplots(
            1, len(workers), figsize=(6 * len(workers), 4), squeeze=False
        )
        for ax, w in zip(axes[0], workers, strict=True):
            mine = order([r for r in rows if r["workers"] == w])
            systems = list(dict.fromkeys(r["system"] for r in mine))
            clients = sorted({r["clients"] for r in mine})
            height = 0.8 / len(clients)
            for i, c in enumerate(clients):
                values = [(find(mine, s, w, c) or {}).get(metric) or 0 for s in systems]
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
        figures[scenario.lower()] = fig
    for fig in figures.values():
        fig.tight_layout()
    return figures
