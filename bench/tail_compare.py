"""Where P4's latency tail at one worker comes from, shown with figures.

    python -m bench.tail_compare [--quick] [--no-save]

The suite's P4 (one indexed query for 20 rows and a template, 50 wrk
connections, one uvicorn worker) has a p99 several times its p50 for every
system served by uvicorn on uvloop, oneloop's and FastAPI's alike, while
gevent and WSGI stay near 2x. This script serves the same views through a
watching wrapper (``bench.probe``: loop lag, garbage-collector pauses, time
in the application, when each connection's first request arrived) and
measures P4 three ways for each system:

* ``suite``: as the suite does (uvloop; wrk opens its connections and
  starts timing at once);
* ``open first``: the same server, with every connection opened and
  accepted before the first request is timed (``bench/open_first.lua``);
* ``asyncio loop``: the suite's way again, on asyncio's own loop.

libuv (uvloop's core) accepts one connection per loop iteration, and asyncio
takes every pending one at once. On a loop kept busy by the first
connections' requests, an iteration lasts tens of milliseconds, so the last
connections wait that long per connection ahead of them, with their first
request already sent and timed. The results go to
``bench/results/tail-<date>.json`` and the P4 tail block of
docs/benchmarks.md (``bench.publish``).
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

from bench.db import Target, choose_target, prepare
from bench.load import wrk
from bench.servers import ROOT, SYSTEMS, Server, System
from bench.suite import Mode, _log, _settle, served

SYSTEM_NAMES = ("oneloop-sync", "oneloop-async", "fastapi")
VARIANTS = ("suite", "open first", "asyncio loop")
CLIENTS = 50
POOL = 80
OPEN_FIRST = os.path.join(ROOT, "bench", "open_first.lua")


class ProbedServer(Server):
    """A uvicorn system served through ``bench.probe``, on uvloop or on
    asyncio's loop."""

    def __init__(self, system: System, loop: str, target: Target) -> None:
        super().__init__(system, 1, POOL, target)
        self.loop = loop

    def command(self) -> list[str]:
        cmd = super().command()
        cmd[cmd.index(self.system.app)] = "bench.probe:application"
        cmd[cmd.index("uvloop")] = self.loop
        return cmd

    def start(self, timeout: float = 60) -> None:
        os.environ["BENCH_PROBE_APP"] = self.system.app
        super().start(timeout)

    def probe(self, what: str = "") -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/probe/{what}", timeout=10) as r:
            return json.load(r)


def measure(server: ProbedServer, mode: Mode, open_first: bool) -> dict[str, Any]:
    """P4 at :data:`CLIENTS` connections on a settled server, with what the
    probe saw during it."""
    _settle(server)
    server.probe("reset/")
    script = (OPEN_FIRST, str(CLIENTS)) if open_first else ()
    figures = wrk(server.url("P4"), CLIENTS, mode.seconds, script=script)
    return {**figures, "probe": server.probe()}


def run_system(name: str, mode: Mode, target: Target) -> list[dict[str, Any]]:
    """The three variants of one system; rows carry their error if any."""
    return [
        *_on_loop(name, "uvloop", VARIANTS[:2], mode, target),
        *_on_loop(name, "asyncio", VARIANTS[2:], mode, target),
    ]


def _on_loop(
    name: str, loop: str, variants: tuple[str, ...], mode: Mode, target: Target
) -> list[dict[str, Any]]:
    system = SYSTEMS[name]
    server = ProbedServer(system, loop, target)
    base = {"system": name, "label": system.label}

    def measured() -> list[dict[str, Any]]:
        url = server.url("P4")
        urllib.request.urlopen(url, timeout=30).close()
        wrk(url, CLIENTS, mode.warmup)  # warm-up, not recorded
        rows = []
        for variant in variants:
            _log(f"P4 tail: {name}, {variant}")
            row = measure(server, mode, variant == "open first")
            rows.append({**base, "variant": variant, **row})
        return rows

    return served(
        server,
        f"P4 tail {name}",
        measured,
        lambda error: [{**base, "variant": v, "error": error} for v in variants],
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.tail_compare``."""
    from bench import publish

    mode, save = publish.comparison_mode("python -m bench.tail_compare", __doc__, argv)
    target = choose_target("postgresql")
    started = publish.begin(target)
    prepare(target)
    data = {
        "params": {
            "mode": mode.name,
            "seconds": mode.seconds,
            "warmup": mode.warmup,
            "clients": CLIENTS,
            "pool": POOL,
        },
        "rows": [
            row for name in SYSTEM_NAMES for row in run_system(name, mode, target)
        ],
    }
    publish.finish("tail", data, started, save)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
