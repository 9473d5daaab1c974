"""The benchmark suite (P1..P7): every system side by side in one run.

``bash bench/run.sh --quick`` (set-up, then ``python -m bench run --quick``:
a few minutes, one worker process) or ``--full`` (at most 20 minutes, 1 then
2 worker processes). Results go to
``bench/results/<mode>-<date>.json``; the report (Markdown table and plots) to
``docs/`` for a full run and next to the JSON for a quick one.

Scenarios, named as in the project's issue:

* P1 per-query latency in-process: indexed lookup, stock sync ORM vs stock
  ``afirst()`` vs oneloop ``afirst()`` vs raw psycopg; µs per call.
* P2 IO-bound throughput: one query waiting 50 ms (``pg_sleep(0.05)``) per
  request at 10/100/500 clients; requests/s, p50/p99, server CPU per request.
* P3 sync deployment cost: the same project with ``"oneloop"`` in
  INSTALLED_APPS and nothing else changed, against stock: ``manage.py check``
  start-up, sync ``first()`` with no loop, and WSGI (gunicorn gthread, same
  pool) P4 throughput, measured in alternating rounds so that each ratio can
  be set against the run's own repeat spread. oneloop's ENGINE with no loop
  running is measured the same way, as a separate figure.
* P4 CPU-bound: one indexed query for 20 rows + a template; requests/s.
* P5 memory per in-flight request: server RSS with N slow requests in flight.
* P6 fan-out: one request issuing 5 independent 50 ms queries.
* P7 one sync↔async crossing: asgiref vs oneloop's bridge; µs. And the
  bridge crossing with oneloop's loop-block watchdog started vs not.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench.db import Target, choose_target, prepare
from bench.inproc import measure
from bench.load import inflight, wrk, wrk_available
from bench.servers import ROOT, SYSTEMS, Server, System

RESULTS_DIR = os.path.join(ROOT, "bench", "results")


@dataclass(frozen=True)
class Mode:
    """How long and how wide a run is."""

    name: str
    workers: tuple[int, ...]
    p2_clients: tuple[int, ...]
    seconds: int  # wrk duration of each measurement (wrk takes whole seconds)
    warmup: int  # wrk duration of the warm-up per scenario
    p4_clients: int
    p6_clients: int
    p5_inflight: int
    p1_calls: int
    p1_repeats: int
    p7_calls: int
    p3_startups: int
    p3_rounds: int  # P3 WSGI: fresh-server P4 measurements per system


QUICK = Mode("quick", (1,), (10, 100), 2, 1, 50, 4, 100, 500, 3, 2000, 3, 3)
FULL = Mode("full", (1, 2), (10, 100, 500), 6, 2, 50, 4, 500, 2000, 5, 5000, 5, 3)

P3_LATENCY = ("stock-sync", "stockapp-plain", "oneloop-plain")
P3_STARTUP = ("stock", "stock+app", "oneloop")
"""P3's in-process variants, in the same order: stock; ``"oneloop"`` in
INSTALLED_APPS and nothing else changed; oneloop's ENGINE (no loop running)."""
P3_WSGI = ("wsgi", "wsgi-app", "wsgi-oneloop")
"""P3's WSGI systems, the stock baseline first."""

P1_SYSTEMS = (
    "stock-sync",
    "stock-async",
    "oneloop-async",
    "oneloop-sync",
    "psycopg-sync",
    "psycopg-async",
)
VERSIONED = (
    "django", "asgiref", "greenlet", "psycopg", "psycopg-binary", "psycopg-pool",
    "uvicorn", "uvloop", "httptools", "gunicorn", "gevent", "fastapi",
    "starlette", "sqlalchemy", "jinja2", "pydantic", "matplotlib",
)  # fmt: skip


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _command_output(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).strip()


def machine(target: Target | None = None) -> dict[str, Any]:
    """What the numbers were measured on (with PostgreSQL's version when
    ``target`` is given). Every results file in bench/results carries it."""
    cpu_model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import psutil

    pg_version = None
    if target is not None:
        try:
            import psycopg

            with psycopg.connect(target.dsn) as conn:
                pg_version = conn.execute("SHOW server_version").fetchone()[0]
        except Exception as exc:  # reported, not fatal
            pg_version = f"unknown ({exc})"
    wrk_version = _command_output(["wrk", "-v"]).splitlines()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "postgresql": pg_version,
        "wrk": wrk_version[0] if wrk_version else "",
        "oneloop_commit": _command_output(["git", "-C", ROOT, "rev-parse", "HEAD"]),
        "versions": {name: _version(name) for name in VERSIONED},
    }


def _available(system: System) -> str | None:
    """Why ``system`` cannot run here, or None if it can."""
    for module in system.needs:
        try:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed"
        except ModuleNotFoundError:
            return f"{module} is not installed"
    return None


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def served(
    server: Server,
    what: str,
    work: Callable[[], list[dict[str, Any]]],
    failed: Callable[[str], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Start ``server`` and return the rows ``work()`` measures on it; when
    starting or measuring fails, the rows ``failed(message)`` makes (logged:
    the other systems still run). The server is stopped in either case."""
    try:
        server.start()
        return work()
    except Exception as exc:
        _log(f"{what}: error {exc}")
        return failed(f"{type(exc).__name__}: {exc}")
    finally:
        server.stop()


def run_inproc(mode: Mode, target: Target) -> dict[str, Any]:
    """P1, P3 (in-process part) and P7."""
    out: dict[str, Any] = {"P1": {}, "P3": {}, "P7": {}}
    for system in P1_SYSTEMS:
        _log(f"P1 {system}")
        out["P1"][system] = measure(
            "latency", system, target, calls=mode.p1_calls, repeats=mode.p1_repeats
        )
    for system in ("asgiref", "oneloop-bridge"):
        _log(f"P7 {system}")
        out["P7"][system] = measure(
            "crossing", system, target, calls=mode.p7_calls, repeats=mode.p1_repeats
        )
    _log("P7 oneloop-bridge with the loop-block watchdog on and off")
    out["P7"]["watchdog"] = measure(
        "watchdog", "oneloop-bridge", target, calls=mode.p7_calls,
        repeats=mode.p1_repeats,
    )  # fmt: skip
    _log("P3 sync latency and manage.py start-up, in alternating rounds")

    def latency(system: str) -> float | str:
        r = measure("latency", system, target, calls=mode.p1_calls, repeats=1)
        return r.get("median", r.get("error", "no figure"))

    out["P3"]["latency"] = _rounds(list(P3_LATENCY), mode.p1_repeats, latency)
    out["P3"]["startup"] = _rounds(
        list(P3_STARTUP), mode.p3_startups, lambda s: _startup_once(s, target)
    )
    out["duplication"] = _duplication()
    return out


def _rounds(
    keys: list[str], rounds: int, once: Callable[[str], float | str]
) -> dict[str, dict[str, Any]]:
    """``rounds`` samples of each key, taken in rounds (every key once per
    round, the order rotated each round) so that drift over the run touches
    every key alike. ``once`` returns a number, or an error text that ends
    that key's sampling."""
    samples: dict[str, list[float]] = {key: [] for key in keys}
    errors: dict[str, str] = {}
    for i in range(rounds):
        for key in keys[i % len(keys) :] + keys[: i % len(keys)]:
            if key in errors:
                continue
            value = once(key)
            if isinstance(value, str):
                errors[key] = value
            else:
                samples[key].append(value)
    return {
        key: {"error": errors[key]}
        if key in errors
        else {"median": statistics.median(samples[key]), "samples": samples[key]}
        for key in keys
    }


def _duplication() -> dict[str, Any]:
    """Lines of sync/async twin code in Django and in oneloop
    (``bench.duplication``), measured in a child interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.duplication"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout)


def _startup_once(django_system: str, target: Target) -> float | str:
    """Seconds for one ``django-admin check`` (interpreter start, settings,
    apps, checks), or the error it ended with."""
    env = {
        **os.environ,
        **target.env(),
        "BENCH_SYSTEM": django_system,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
    }
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["failed"])[-1]
    return time.perf_counter() - start


def _settle(server: Server, limit: float = 15) -> None:
    """Wait until the server is idle (under 8 % of a core for 0.25 s), so
    requests left over from the previous measurement do not leak into the
    next one."""
    deadline = time.monotonic() + limit
    before = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = server.cpu_seconds()
        if now - before < 0.02:
            return
        before = now


def _scenario_http(server: Server, mode: Mode, scenario: str) -> list[dict]:
    """Run one HTTP scenario on a started server; one row per client count."""
    rows = []
    clients = {
        "P2": mode.p2_clients,
        "P4": (mode.p4_clients,),
        "P6": (mode.p6_clients,),
    }[scenario]
    url = server.url(scenario)
    for _ in range(2 * server.workers):  # one at a time first: start-up work
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=30).close()
    wrk(url, min(clients), mode.warmup)  # warm-up, not recorded
    for count in clients:
        _settle(server)
        cpu_before, wait_before = server.cpu_seconds(), server.cpu_wait_seconds()
        figures = wrk(url, count, mode.seconds)
        cpu = server.cpu_seconds() - cpu_before
        requests = figures.get("requests", 0)
        figures["cpu_us_per_request"] = cpu / requests * 1e6 if requests else None
        figures["cpu_wait_per_s"] = (
            server.cpu_wait_seconds() - wait_before
        ) / mode.seconds
        if not requests:
            figures["error"] = (
                f"{scenario}: no request completed ({server.log_tail(1)})"
            )
        rows.append({"scenario": scenario, "clients": count, **figures})
    return rows


def _scenario_p5(server: Server, mode: Mode) -> dict[str, Any]:
    """P5: RSS growth per in-flight slow request, and the thread count."""
    _settle(server)
    idle_rss, idle_threads = server.memory()
    figures = inflight(server.url("P5"), mode.p5_inflight, server.memory)
    growth = figures["peak_rss"] - idle_rss
    return {
        "scenario": "P5",
        "clients": mode.p5_inflight,
        "idle_rss_kib": idle_rss / 1024,
        "peak_rss_kib": figures["peak_rss"] / 1024,
        "kib_per_request": growth / 1024 / mode.p5_inflight,
        "idle_threads": idle_threads,
        "peak_threads": figures["peak_threads"],
        "ok": figures["ok"],
        "failed": figures["failed"],
        "seconds": figures["seconds"],
    }


def run_http(
    mode: Mode, target: Target, systems: list[str], pool_total: int, save: Any
) -> list[dict[str, Any]]:
    """Every HTTP system, one at a time, for each worker count."""
    rows: list[dict[str, Any]] = []
    for workers in mode.workers:
        pool = max(1, pool_total // workers)
        for name in systems:
            system = SYSTEMS[name]
            if not system.scenarios:  # measured by run_p3_wsgi only
                continue
            base = {
                "system": name,
                "label": system.label,
                "workers": workers,
                "pool_per_worker": pool,
                "config": system.config(workers, pool),
            }
            why = _available(system)
            if why:
                rows.append({**base, "error": why})
                _log(f"{name} x{workers}: skipped, {why}")
                continue
            server = Server(system, workers, pool, target)
            _log(f"{name} x{workers}: starting")
            try:
                server.start()
                for scenario in system.scenarios:
                    _log(f"{name} x{workers}: {scenario}")
                    if scenario == "P5":
                        rows.append({**base, **_scenario_p5(server, mode)})
                    else:
                        rows += [
                            {**base, **row}
                            for row in _scenario_http(server, mode, scenario)
                        ]
            except Exception as exc:  # recorded; the other systems still run
                rows.append({**base, "error": f"{type(exc).__name__}: {exc}"})
                _log(f"{name} x{workers}: error {exc}")
            finally:
                server.stop()
            save(rows)
    return rows


def run_p3_wsgi(
    mode: Mode, target: Target, systems: list[str], pool_total: int, save: Any
) -> list[dict[str, Any]]:
    """P3's WSGI comparison: stock ``wsgi`` beside the same deployment with
    oneloop in INSTALLED_APPS (and with oneloop's ENGINE), same gunicorn
    gthread configuration and pool, P4 at ``p4_clients``. Each round starts a
    fresh server of every system in turn (rotated order) and measures it
    once, so each system has ``p3_rounds`` samples taken side by side. One
    server runs at a time: the database has room for one system's pool."""
    names = [name for name in P3_WSGI if name in systems]
    if P3_WSGI[0] not in names or len(names) < 2:
        return []
    out: list[dict[str, Any]] = []
    for workers in mode.workers:
        pool = max(1, pool_total // workers)
        entry: dict[str, Any] = {
            "workers": workers,
            "pool_per_worker": pool,
            "clients": mode.p4_clients,
            "rounds": mode.p3_rounds,
            "systems": {
                name: {
                    "label": SYSTEMS[name].label,
                    "config": SYSTEMS[name].config(workers, pool),
                    "rows": [],
                }
                for name in names
            },
        }
        out.append(entry)
        for i in range(mode.p3_rounds):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                mine = entry["systems"][name]
                if "error" in mine:
                    continue
                server = Server(SYSTEMS[name], workers, pool, target)
                _log(f"P3 {name} x{workers}: round {i + 1}/{mode.p3_rounds}")
                try:
                    server.start()
                    mine["rows"] += _scenario_http(server, mode, "P4")
                except Exception as exc:  # recorded; the others still run
                    mine["error"] = f"{type(exc).__name__}: {exc}"
                    _log(f"P3 {name} x{workers}: error {exc}")
                finally:
                    server.stop()
        save(out)
    return out


def run(mode: Mode, systems: list[str] | None = None, pool_total: int = 80) -> str:
    """Run the suite; return the path of the results file."""
    if not wrk_available():
        raise SystemExit("wrk is not installed: run `bash bench/setup.sh` first")
    target = choose_target("postgresql")
    if target.vendor != "postgresql":
        raise SystemExit("the suite needs PostgreSQL (BENCH_PG_HOST/PORT)")
    systems = systems or list(SYSTEMS)
    _log(f"{mode.name} run on {target.host}:{target.port}/{target.name}")
    prepare(target)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{mode.name}-{stamp}.json")
    results: dict[str, Any] = {
        "mode": asdict(mode),
        "machine": machine(target),
        "pool_total": pool_total,
        "systems": {
            name: {"label": SYSTEMS[name].label, "scenarios": SYSTEMS[name].scenarios}
            for name in systems
        },
    }

    def save(http_rows: list[dict[str, Any]]) -> None:
        results["http"] = http_rows
        with open(path, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=1)

    results.update(run_inproc(mode, target))
    save([])
    run_http(mode, target, systems, pool_total, save)

    def save_p3(entries: list[dict[str, Any]]) -> None:
        results["P3"]["wsgi"] = entries
        save(results["http"])

    run_p3_wsgi(mode, target, systems, pool_total, save_p3)
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    save(results["http"])
    _log(f"results: {os.path.relpath(path, ROOT)}")
    return path
