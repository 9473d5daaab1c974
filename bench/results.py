"""Results files: finding and loading them, and picking rows out of them.

The suite writes ``bench/results/<quick|full>-<date>.json``; each small
comparison ``bench/results/<asgi|cache|mail>-<date>.json``. Everything the
renderers (:mod:`bench.render`) need from a results file goes through the
helpers here, so a row is "clean" or "best" in one sense everywhere.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterable
from typing import Any

from bench.servers import ROOT, SYSTEMS

RESULTS_DIR = os.path.join(ROOT, "bench", "results")
HTTP_ORDER = (
    "wsgi", "gevent", "asgi-sync", "asgi-async", "oneloop-sync",
    "oneloop-async", "fastapi", "raw", "asgi-sync-granian",
    "oneloop-sync-granian", "oneloop-async-granian", "wsgi-app", "wsgi-oneloop",
)  # fmt: skip
"""The order systems are listed in, in tables and plots."""

_STAMP = re.compile(r"-(\d{8}-\d{6})\.json$")


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


def load(path: str) -> dict[str, Any]:
    """The results file at ``path``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def http(results: dict, scenario: str) -> list[dict[str, Any]]:
    """The load-test rows of one scenario (``"P2"``, ``"P4"``...)."""
    return [r for r in results.get("http", []) if r.get("scenario") == scenario]


def find(rows: list[dict], system: str, workers: int, clients: int | None = None):
    """The row of ``system`` at ``workers`` (and ``clients``), or None."""
    for r in rows:
        if r["system"] == system and r["workers"] == workers:
            if clients is None or r.get("clients") == clients:
                return r
    return None


def order(rows: list[dict]) -> list[dict]:
    """``rows`` by worker count, then :data:`HTTP_ORDER`, then clients."""
    rank = {name: i for i, name in enumerate(HTTP_ORDER)}
    return sorted(
        rows, key=lambda r: (r["workers"], rank.get(r["system"], 99), r.get("clients"))
    )


def label(results: dict, system: str) -> str:
    """A system's label: today's wording for a system the suite still has
    (older results files called oneloop's ENGINE under WSGI "installed"),
    else the one recorded in the results file."""
    if system in SYSTEMS:
        return SYSTEMS[system].label
    return results.get("systems", {}).get(system, {}).get("label", system)


def errors(results: dict) -> list[dict]:
    """The rows of systems that did not run."""
    return [r for r in results.get("http", []) if "error" in r]


def clean(row: dict[str, Any] | None) -> bool:
    """True when a wrk row has figures and at most 0.1 % failed requests:
    fast error responses must never pass for throughput."""
    if not row or not row.get("rps"):
        return False
    failed = row.get("socket_errors", 0) + row.get("non_2xx", 0)
    return failed <= 0.001 * max(row.get("requests", 0), 1)


def unclean_reason(row: dict[str, Any]) -> str:
    """What the ratio column says instead of a ratio for an unclean row."""
    if not row.get("requests"):
        return "none completed"
    return "failed requests"


def fastest(rows: list[dict], systems: Iterable[str], workers: int, clients: int):
    """The clean row with most req/s among ``systems`` at this width, or None."""
    found = [find(rows, s, workers, clients) for s in systems]
    found = [r for r in found if clean(r)]
    return max(found, key=lambda r: r["rps"]) if found else None
