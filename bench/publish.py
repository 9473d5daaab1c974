"""Publishing: the only code of the report that writes files.

``python -m bench report [RESULTS.json] [--out DIR]`` (:func:`report`)
writes ``DIR/benchmarks.md`` and ``DIR/img/bench-*.png|svg`` from a suite
results file; for a full run, whose report goes to ``docs/``, it also
rewrites the generated blocks of ``docs/evidence.md`` (§5, duplication,
measured on the source at that moment) and re-renders the tables of the
small comparisons (:func:`refresh`) from the newest results file of each.

The comparison scripts (``python -m bench.asgi_compare``, ``python
bench/cache_compare.py``, ``python bench/mail_compare.py``, ``python -m
bench.channels_compare``, ``python -m bench.mysql_compare``, ``python -m
bench.tail_compare``) take their
machine metadata with :func:`begin` and end with :func:`publish`, which
saves ``bench/results/<kind>-<date>.json`` and renders its table into its
page, between ``<!-- bench:<kind>:start -->`` and ``<!-- bench:<kind>:end
-->``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from bench import results as results_files
from bench.render import benchmarks, comparisons, evidence, headline, plots
from bench.servers import ROOT

DOCS_DIR = os.path.join(ROOT, "docs")
PAGES = {
    "asgi": "asgi.md",
    "cache": "cache.md",
    "mail": "mail.md",
    "channels": "benchmarks.md",
    "mysql": "benchmarks.md",
    "tail": "benchmarks.md",
}
"""Which page of docs/ shows each comparison."""


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
    os.makedirs(results_files.RESULTS_DIR, exist_ok=True)
    path = os.path.join(results_files.RESULTS_DIR, f"{kind}-{stamp}.json")
    results = {"kind": kind, "machine": machine, **data}
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    with open(path, "w", encoding="utf-8") as out:
        json.dump(results, out, indent=1)
    return path


def publish(kind: str, data: dict[str, Any], machine: dict[str, Any]) -> None:
    """:func:`save` the results, render them into their page, say where."""
    path = save(kind, data, machine)
    page = comparison(kind, path)
    print(
        "results:", os.path.relpath(path, ROOT), "table:", os.path.relpath(page, ROOT)
    )


def comparison_mode(prog: str, doc: str, argv: list[str] | None) -> tuple[Any, bool]:
    """The command line every comparison script takes (``--quick`` for the
    suite's quick durations, ``--no-save`` to print only): the suite's
    ``Mode`` to measure with, and whether to save. Refuses to go on without
    wrk."""
    import argparse

    from bench.load import wrk_available
    from bench.suite import FULL, QUICK

    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="the suite's quick durations"
    )
    parser.add_argument(
        "--no-save", action="store_true", help="print only: no results file, no page"
    )
    args = parser.parse_args(argv)
    if not wrk_available():
        raise SystemExit("wrk is not installed: run `bash bench/setup.sh` first")
    return (QUICK if args.quick else FULL), not args.no_save


def finish(
    kind: str, data: dict[str, Any], machine: dict[str, Any], save: bool
) -> None:
    """:func:`publish` the results of comparison ``kind``, or (not ``save``)
    print its table only."""
    if save:
        publish(kind, data, machine)
    else:
        lines = comparisons.RENDER[kind]({"machine": machine, **data}, "(not saved)")
        print("\n".join(lines))


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


def comparison(kind: str, path: str) -> str:
    """Render the results file ``path`` of comparison ``kind`` into its page;
    return the page's path."""
    page = os.path.join(DOCS_DIR, PAGES[kind])
    lines = comparisons.RENDER[kind](results_files.load(path), os.path.basename(path))
    if not replace_block(page, kind, lines):
        raise SystemExit(f"{page} has no <!-- bench:{kind}:start/end --> block")
    return page


def refresh() -> list[str]:
    """Re-render every comparison's page from its newest results file."""
    pages = []
    for kind in PAGES:
        try:
            path = results_files.newest(kind)
        except SystemExit:
            continue
        pages.append(comparison(kind, path))
    return pages


def measure_source() -> dict[str, dict[str, Any]]:
    """What evidence.md §5 reports, measured on the installed Django and this
    checkout's oneloop now: mirrored functions and async twins."""
    from bench import duplication, mirror

    return {"mirrored": mirror.measure(), "twins": duplication.measure()}


def update_evidence(
    path: str, results: dict, results_name: str, source: dict[str, dict[str, Any]]
) -> list[str]:
    """Rewrite every generated block ``path`` (docs/evidence.md) has: the
    headline and §1 to §4 from ``results``, §5 from ``source``
    (:func:`measure_source`); the names of the blocks rewritten."""
    blocks = {
        "headline": headline.headline(results, results_name),
        **evidence.blocks(results, results_name),
        "evidence-5": evidence.section5(source["mirrored"], source["twins"]),
    }
    return [name for name, lines in blocks.items() if replace_block(path, name, lines)]


def default_out(path: str) -> str:
    """``docs/`` for a full run; a folder next to the JSON for the others."""
    mode = results_files.load(path)["mode"]["name"]
    return DOCS_DIR if mode == "full" else os.path.splitext(path)[0]


def _save_figures(results: dict, img_dir: str) -> set[str]:
    """Save the plots of ``results`` as PNG and SVG; the scenarios saved."""
    figures = plots.figures(results)
    if not figures:
        return set()
    import matplotlib
    import matplotlib.pyplot as plt

    # The same results file gives byte-identical SVGs: fixed element ids and
    # no creation date, so re-rendering does not churn the committed images.
    matplotlib.rcParams["svg.hashsalt"] = "bench"
    os.makedirs(img_dir, exist_ok=True)
    for name, fig in figures.items():
        for ext in ("png", "svg"):
            fig.savefig(
                os.path.join(img_dir, f"{benchmarks.STEM}-{name}.{ext}"),
                dpi=110,
                metadata={"Date": None} if ext == "svg" else None,
            )
        plt.close(fig)
    return set(figures)


def report(path: str, out_dir: str) -> str:
    """Write ``out_dir/benchmarks.md`` and its plots from the results file
    ``path``; for ``docs/``, evidence.md and the comparison pages too."""
    results = results_files.load(path)
    name = os.path.basename(path)
    os.makedirs(out_dir, exist_ok=True)
    images = _save_figures(results, os.path.join(out_dir, "img"))
    lines = benchmarks.page(results, name, os.path.relpath(path, out_dir), images)
    with open(os.path.join(out_dir, "benchmarks.md"), "w", encoding="utf-8") as out:
        out.write("\n".join(lines))
    if os.path.abspath(out_dir) == os.path.abspath(DOCS_DIR):
        evidence_md = os.path.join(DOCS_DIR, "evidence.md")
        update_evidence(evidence_md, results, name, measure_source())
        refresh()  # benchmarks.md's Channels block among them
    return out_dir
