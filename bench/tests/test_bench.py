"""Tests of the benchmark's own logic (parsing, ratios, twin counting).

Run with ``python -m pytest bench/tests``; they need no server.
"""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from bench import publish
from bench.duplication import twins_in_file
from bench.load import _ms, parse_wrk
from bench.render import benchmarks, comparisons, evidence, round_two
from bench.render.headline import headline
from bench.render.p3 import comparisons as p3_rows
from bench.render.p3 import spread, verdict, versus
from bench.results import clean, fastest
from bench.suite import _rounds

WRK_OUTPUT = textwrap.dedent(
    """\
    Running 2s test @ http://127.0.0.1:8000/sync/p2/
      1 threads and 10 connections
      Thread Stats   Avg      Stdev     Max   +/- Stdev
        Latency    53.20ms    2.10ms  63.20ms   90.00%
        Req/Sec   183.00     10.00   200.00     80.00%
      Latency Distribution
         50%   53.20ms
         75%   54.00ms
         90%   56.00ms
         99%    1.20s
      366 requests in 2.00s, 100.00KB read
      Socket errors: connect 0, read 1, write 0, timeout 2
      Non-2xx or 3xx responses: 4
    Requests/sec:    183.00
    Transfer/sec:     50.00KB
    """
)


def test_parse_wrk_reads_every_figure() -> None:
    r = parse_wrk(WRK_OUTPUT)
    assert r["p50_ms"] == pytest.approx(53.2)
    assert r["p99_ms"] == pytest.approx(1200.0)
    assert r["requests"] == 366
    assert r["duration_s"] == pytest.approx(2.0)
    assert r["rps"] == pytest.approx(183.0)
    assert r["socket_errors"] == 3
    assert r["non_2xx"] == 4


@pytest.mark.parametrize(
    ("text", "ms"), [("812.00us", 0.812), ("51.2ms", 51.2), ("1.5s", 1500.0)]
)
def test_wrk_durations(text: str, ms: float) -> None:
    assert _ms(text) == pytest.approx(ms)


def _row(system: str, rps: float, errors: int = 0, **extra: object) -> dict:
    return {"system": system, "workers": 1, "clients": 100, "scenario": "P2",
            "rps": rps, "requests": int(rps * 2), "non_2xx": errors,
            "socket_errors": 0, "p50_ms": 50.0, "p99_ms": 60.0, **extra}  # fmt: skip


def test_rows_with_failed_requests_never_win() -> None:
    fast_but_failing = _row("oneloop-sync", 900, errors=500)
    honest = _row("oneloop-async", 300)
    assert not clean(fast_but_failing)
    assert (
        fastest([fast_but_failing, honest], ("oneloop-sync", "oneloop-async"), 1, 100)
        is honest
    )


def test_headline_states_ratio_next_to_absolute_numbers() -> None:
    results = {
        "P1": {"oneloop-async": {"median": 450.0}, "stock-sync": {"median": 450.0},
               "stock-async": {"median": 900.0}},
        "http": [_row("oneloop-async", 600), _row("asgi-sync", 200)],
    }  # fmt: skip
    text = "\n".join(headline(results, "x.json"))
    assert "(**1.00x**)" in text and "(**0.50x**)" in text
    assert "oneloop-async 600 req/s" in text and "asgi-sync 200 (3.00x)" in text


def test_twins_are_async_siblings_only(tmp_path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        textwrap.dedent(
            """\
            class Manager:
                def get(self):
                    return 1

                async def aget(self):
                    return self.get()

                async def afetch(self):  # no sync sibling: not a twin
                    return 2
            """
        )
    )
    assert twins_in_file(str(source)) == [{"name": "aget", "lines": 2}]


# --- P3: installed vs not, against the run's own noise ------------------------


def test_spread_is_the_min_max_range_over_the_median() -> None:
    assert spread([90.0, 100.0, 110.0]) == pytest.approx(0.2)
    assert spread([100.0]) is None


def test_versus_is_within_noise_when_the_ratio_stays_inside_the_spread() -> None:
    inside = versus([100.0, 95.0, 105.0], [103.0, 101.0, 104.0])
    assert inside["ratio"] == pytest.approx(1.03)
    assert inside["noise"] == pytest.approx(0.10)
    assert inside["within"] is True
    outside = versus([100.0, 99.0, 101.0], [120.0, 119.0, 121.0])
    assert outside["within"] is False
    assert versus([100.0], [120.0])["within"] is None  # one sample: unknown


def _p3_results() -> dict:
    def rows(*rps: float) -> list[dict]:
        return [_row("x", r, scenario="P4", clients=50) for r in rps]

    def system(*rps: float) -> dict:
        return {"label": "", "config": "gunicorn", "rows": rows(*rps)}

    return {
        "P3": {
            "latency": {
                "stock-sync": {"median": 400.0, "samples": [390.0, 400.0, 410.0]},
                "stockapp-plain": {"median": 404.0, "samples": [398.0, 404.0, 409.0]},
                "oneloop-plain": {"median": 440.0, "samples": [438.0, 440.0, 442.0]},
            },
            "startup": {
                "stock": {"median": 0.36, "samples": [0.35, 0.36, 0.37]},
                "stock+app": {"median": 0.43, "samples": [0.42, 0.43, 0.44]},
                "oneloop": {"median": 0.46, "samples": [0.45, 0.46, 0.47]},
            },
            "wsgi": [
                {
                    "workers": 1,
                    "pool_per_worker": 80,
                    "clients": 50,
                    "rounds": 3,
                    "systems": {
                        "wsgi": system(300, 290, 310),
                        "wsgi-app": system(305, 295, 298),
                        # one round failed requests: left out of the samples
                        "wsgi-oneloop": {
                            **system(450, 460),
                            "rows": [
                                *rows(450, 460),
                                _row("x", 900, errors=500, scenario="P4"),
                            ],
                        },
                    },
                }
            ],
        }
    }


def test_p3_compares_installed_vs_not_side_by_side_against_stock() -> None:
    rows = {(r["variant"], r["measure"]): r for r in p3_rows(_p3_results())}
    wsgi = rows[("app", "WSGI P4 at 1 worker(s)")]
    assert wsgi["cmp"]["base"] == 300 and wsgi["cmp"]["other"] == 298
    assert verdict(wsgi) == "within noise"
    assert verdict(rows[("app", "`first()` with no loop")]) == "within noise"
    assert verdict(rows[("app", "`manage.py check`")]) == "outside noise, slower"
    engine = rows[("engine", "WSGI P4 at 1 worker(s)")]
    assert engine["cmp"]["samples"] == [3, 2]
    assert verdict(engine) == "outside noise, faster"


def test_headline_says_whether_each_p3_ratio_is_within_noise() -> None:
    text = "\n".join(headline(_p3_results(), "x.json"))
    assert 'installed vs not (`"oneloop"` in INSTALLED_APPS' in text
    assert "WSGI P4 at 1 worker(s) 298 vs 300 req/s (**0.99x**, within noise" in text
    assert "`manage.py check` 0.430 vs 0.360 s (**1.19x**, outside noise" in text
    assert "Within noise: 2 of 3." in text


def test_p3_without_side_by_side_wsgi_says_so() -> None:
    results = _p3_results()
    del results["P3"]["wsgi"]
    rows = [r for r in p3_rows(results) if r["variant"] == "app"]
    assert rows[-1]["cmp"] is None
    assert verdict(rows[-1]) == "not measured in this results file"


def test_rounds_rotate_the_order_and_stop_a_failing_key() -> None:
    calls: list[str] = []

    def once(key: str) -> float | str:
        calls.append(key)
        return "boom" if key == "c" and len(calls) > 3 else float(len(calls))

    out = _rounds(["a", "b", "c"], 3, once)
    assert calls[:3] == ["a", "b", "c"] and calls[3:5] == ["b", "c"]
    assert out["c"] == {"error": "boom"}
    assert out["a"]["samples"] == [1.0, 6.0, 7.0]


def test_newest_picks_suite_files_by_the_date_in_their_name(
    tmp_path, monkeypatch
) -> None:
    import bench.results as results_files

    for name in ("full-20260101-000000.json", "quick-20250101-000000.json",
                 "cache-20270101-000000.json"):  # fmt: skip
        (tmp_path / name).write_text("{}")
    monkeypatch.setattr(results_files, "RESULTS_DIR", str(tmp_path))
    assert os.path.basename(results_files.newest()) == "full-20260101-000000.json"
    assert (
        os.path.basename(results_files.newest("cache")) == "cache-20270101-000000.json"
    )


# --- the comparison scripts' pages ---------------------------------------------

MACHINE = {
    "date": "2026-01-01T00:00:00+00:00", "cpu_model": "CPU", "cpu_count": 2,
    "loadavg_at_start": [0.5, 0.5, 0.5], "python": "3.11.7", "postgresql": None,
    "versions": {"django": "5.2", "uvloop": "0.21"},
}  # fmt: skip


def test_replace_block_rewrites_only_between_the_markers(tmp_path) -> None:
    page = tmp_path / "p.md"
    page.write_text("a\n<!-- bench:x:start -->\nold\n<!-- bench:x:end -->\nb\n")
    assert publish.replace_block(str(page), "x", ["new 1", "new 2"])
    assert page.read_text() == (
        "a\n<!-- bench:x:start -->\nnew 1\nnew 2\n<!-- bench:x:end -->\nb\n"
    )
    assert not publish.replace_block(str(page), "y", ["z"])


def test_cache_page_puts_ratios_next_to_absolute_numbers() -> None:
    loop = {"stock_aget_us": 300.0, "oneloop_aget_us": 100.0,
            "oneloop_bridge_get_us": 110.0, "stock_fan_out_ms": 15.0,
            "oneloop_fan_out_ms": 3.0, "redis_async_get_us": 90.0}  # fmt: skip
    results = {
        "machine": MACHINE,
        "params": {"calls": 2000, "rounds": 3, "fan_out": 50,
                   "server_version": "Redis 7.0"},
        "no_loop": {"stock_get_us": 70.0, "oneloop_get_us": 70.0,
                    "redis_sync_get_us": 60.0},
        "loops": {"asyncio": loop},
    }  # fmt: skip
    text = "\n".join(comparisons.render_cache(results, "cache-20260101-000000.json"))
    assert "[`cache-20260101-000000.json`](../bench/results/cache-" in text
    assert "| `await cache.aget()` | asyncio | 300.0 µs | 100.0 µs | 0.33x |" in text
    assert "| asyncio | 60.0 | 90.0 | 1.50x | 10.0 | 10.0 |" in text


def test_asgi_page_says_which_server_is_ahead_in_this_run() -> None:
    def row(system: str, rps: float) -> dict:
        return {"system": system, "label": system, "rps": rps, "p50_ms": 50.0,
                "p99_ms": 90.0, "failed": 0}  # fmt: skip

    results = {
        "machine": {**MACHINE, "postgresql": "15.2"},
        "params": {"view": "/one-query/?n=7", "connections": 50, "seconds": 5,
                   "pool_max": 30, "in_flight": 200, "sleep_s": 2.0},
        "throughput": [row("oneloop-asgi", 600), row("stock-asgi", 300),
                       row("stock-wsgi", 900)],
        "memory": [],
    }  # fmt: skip
    text = "\n".join(comparisons.render_asgi(results, "asgi-x.json"))
    assert "| oneloop-asgi | 600 | 2.00x |" in text
    assert "In this run stock-wsgi serves 1.50x the requests/s of oneloop-asgi." in text


def test_mail_page_compares_each_stock_figure_with_oneloop() -> None:
    part = {"stock": {"wall_us": 2000.0, "cpu_us": 800.0},
            "oneloop": {"wall_us": 2200.0, "cpu_us": 1000.0}}  # fmt: skip
    results = {
        "machine": MACHINE,
        "params": {"messages": 200, "concurrent": 20, "delay": 0.2},
        "loops": {"asyncio": {
            "sequential": part, "batch": part,
            "concurrent": {"stock_thread_sensitive_s": 4.0,
                           "stock_thread_pool_s": 0.8, "oneloop_s": 0.24,
                           "bridged_s": 0.25},
        }},
    }  # fmt: skip
    text = "\n".join(comparisons.render_mail(results, "mail-x.json"))
    assert "| 0.24 s | 0.06x |" in text and "| 0.24 s | 0.30x |" in text
    assert "sequential, client CPU | asyncio | 800 µs | 1,000 µs | 1.25x |" in text


# --- evidence.md's generated sections and P7's watchdog row -------------------


def _evidence_results() -> dict:
    def row(system: str, scenario: str, clients: int, **figures: object) -> dict:
        return {"system": system, "workers": 1, "clients": clients,
                "scenario": scenario, "requests": 1000, "non_2xx": 0,
                "socket_errors": 0, **figures}  # fmt: skip

    http = [
        row("oneloop-sync", "P2", 10, rps=195, p50_ms=51.0, p99_ms=60.0,
            cpu_us_per_request=1000),
        row("oneloop-sync", "P2", 100, rps=800, p50_ms=100.0, p99_ms=140.0,
            cpu_us_per_request=1200),
        row("gevent", "P2", 100, rps=900, p50_ms=100.0, p99_ms=300.0,
            cpu_us_per_request=1300),
        row("asgi-sync", "P2", 100, rps=250, p50_ms=300.0, p99_ms=900.0,
            cpu_us_per_request=4000),
        row("wsgi", "P2", 100, rps=600, p50_ms=150.0, p99_ms=200.0,
            cpu_us_per_request=1500),
        row("oneloop-sync", "P6", 4, rps=70, p50_ms=55.0),
        row("wsgi", "P6", 4, rps=15, p50_ms=260.0),
    ]  # fmt: skip
    return {
        **_p3_results(),
        "mode": {"p4_clients": 50, "p5_inflight": 500},
        "P1": {"stock-sync": {"median": 400.0}, "stock-async": {"median": 640.0},
               "oneloop-async": {"median": 420.0}},
        "P7": {"asgiref": {"to_sync": {"median": 80.0}},
               "oneloop-bridge": {"to_sync": {"median": 2.5}}},
        "http": http,
    }  # fmt: skip


def test_evidence_sections_state_numbers_with_ratios() -> None:
    results = _evidence_results()
    one = "\n".join(evidence.section1(results))
    assert "stock `afirst()` 640 µs vs stock `first()` 400 µs (**1.60x**)" in one
    assert "adds 240 µs" in one and "(**32.00x** as long" in one
    assert "asgi-sync 250 req/s (**0.42x**, 4000 µs CPU/req)" in one
    assert "P5** stock ASGI, memory and threads" not in one  # no P5 rows
    assert "not measured in this results file" in one
    two = "\n".join(evidence.section2(results))
    assert "100 clients oneloop-sync 800 req/s = 3.20x stock ASGI" in two
    assert "0.89x gevent" in two and "p99/p50 1.40" in two
    assert "**1.08x** one query (51.0 ms)" in two  # fan-out vs P2 at 10 clients


def test_evidence_targets_are_computed_met_or_missed() -> None:
    status = {t["key"]: t for t in evidence.target_status(_evidence_results())}
    assert status["p1"]["met"] is True  # 420 / 400 = 1.05
    assert status["p2_gevent"]["met"] is False  # 800 / 900
    assert status["p2_cpu"]["met"] is True and status["p2_tail"]["met"] is True
    assert status["p2_c10"]["met"] is True  # 195 / 200
    assert status["p3"]["met"] is False  # manage.py check 1.19x
    assert status["p5"]["met"] is None  # no P5 rows: not measured
    assert status["p6"]["met"] is True
    assert status["p7"]["met"] is False  # 2.5 µs
    text = "\n".join(evidence.section3(_evidence_results()))
    assert "1w c100 gevent **0.889x** (800 vs 900 req/s)" in text
    assert "P7 one async→sync crossing ≤ 2.00 µs: in-process 2.50 µs" in text
    assert "**Targets not measured**" in text


def _source_measures() -> dict:
    def twins(n: int, lines: int, total: int) -> dict:
        return {"twins": n, "twin_lines": lines, "total_lines": total,
                "files_with_twins": 2}  # fmt: skip

    row = {"function": "oneloop.cache.Client.get", "path": "oneloop/cache.py",
           "first": 10, "last": 14, "lines": 5,
           "mirrors": "django.core.cache.Client.get", "score": 0.875,
           "generated": False}  # fmt: skip
    generated = {**row, "function": "oneloop.cache._gen.aget", "generated": True}
    return {
        "mirrored": {"django": "5.2", "threshold": 0.6, "short_threshold": 0.7,
                     "min_tokens": 40,
                     "rows": [row, {**row, "lines": 120}, generated],
                     "lines": 125, "generated_lines": 5, "total_lines": 5000},
        "twins": {"django": {"version": "5.2", **twins(150, 1000, 150000)},
                  "oneloop": twins(10, 100, 5000)},
    }  # fmt: skip


def test_evidence_duplication_states_mirrored_lines_against_the_target() -> None:
    text = "\n".join(evidence.section5(**_source_measures()))
    assert (
        "2 oneloop functions written by hand, **125 lines** (2.5 % of its 5,000" in text
    )
    assert "Target, under 100 lines written by hand: **missed**." in text
    assert "**Generated from Django's source**: 5 more lines" in text
    assert "| `oneloop.cache._gen.aget` (generated) | 5 |" in text
    assert (
        "| `oneloop.cache.Client.get` | 5 | `django.core.cache.Client.get` | 0.88 |"
        in text
    )
    assert "oneloop carries 10 in 2 files, 100 lines (**0.10x** Django's" in text
    few = _source_measures()
    few["mirrored"].update(rows=[], lines=0, generated_lines=0)
    text = "\n".join(evidence.section5(**few))
    assert (
        "0 oneloop functions written by hand, **0 lines**" in text and "**met**" in text
    )
    assert "| oneloop function |" not in text


def test_evidence_blocks_replace_every_marked_section(tmp_path) -> None:
    page = tmp_path / "evidence.md"
    page.write_text(
        "".join(
            f"<!-- bench:evidence-{n}:start -->\n<!-- bench:evidence-{n}:end -->\n"
            for n in range(1, 6)
        )
    )
    source = _source_measures()
    written = publish.update_evidence(str(page), _evidence_results(), "x.json", source)
    assert written == [f"evidence-{n}" for n in range(1, 6)]  # no headline block
    first = page.read_text()
    publish.update_evidence(str(page), _evidence_results(), "x.json", source)
    assert page.read_text() == first  # idempotent
    assert "(From `x.json`.)\n<!-- bench:evidence-4:end -->" in first
    assert "when the report was rendered.)\n<!-- bench:evidence-5:end -->" in first


def test_p7_watchdog_row_compares_on_with_off() -> None:
    on_off = {"watchdog": {"off": {"median": 2.0}, "on": {"median": 2.1}}}
    text = "\n".join(benchmarks.watchdog_lines(on_off))
    assert "| `await run_sync(f)` | 2.00 | 2.10 | 1.05x |" in text
    assert "not measured in this results file" in "\n".join(
        benchmarks.watchdog_lines({})
    )


# --- benchmarks.md: pure sections, one publish step -----------------------------


def _suite_results() -> dict:
    results = _evidence_results()
    for row in results["http"]:
        row["config"] = f"{row['system']} config"
    return {
        **results,
        "machine": {**MACHINE, "platform": "Linux", "memory_gib": 4, "wrk": "wrk 4",
                    "postgresql": "15.2", "oneloop_commit": "0123456789abcdef"},
        "mode": {**results["mode"], "name": "quick", "seconds": 2, "warmup": 1},
        "pool_total": 80,
        "http": [*results["http"], {"system": "raw", "workers": 1,
                                    "error": "port in use", "config": "-"}],
    }  # fmt: skip


def test_benchmarks_page_puts_each_section_in_order() -> None:
    lines = benchmarks.page(_suite_results(), "quick-x.json", "../quick-x.json", {"p2"})
    text = "\n".join(lines)
    titles = [line for line in text.split("\n") if line.startswith("## ")]
    assert titles[:3] == ["## Machine", "## How to run", "## Scenarios"]
    assert titles[3:] == [
        "## Headline ratios", "## Systems", "## P1 per-query latency in-process",
        "## P2 IO-bound throughput (one 50 ms query per request)",
        "## P6 fan-out (5 independent 50 ms queries per request)",
        "## P3 sync deployment cost", "## P7 one sync↔async crossing",
        "## Targets of performance round two", "## P4's tail at one worker",
        "## Systems that did not run", "## WebSockets (Channels)",
        "## P1 and P2 on MariaDB",
    ]  # fmt: skip
    assert "<!-- bench:channels:start -->" in text
    assert "<!-- bench:mysql:start -->" in text
    assert "[`quick-x.json`](../quick-x.json) — a **quick** run" in text
    assert "| oneloop-sync | 1 | 100 | 800 | 100.0 | 140.0 | 1200 | 0 | 3.20x |" in text
    assert "![P2](img/bench-p2.png)" in text and "bench-p6.png" not in text
    assert "| raw | 1 | port in use |" in text


def test_report_writes_the_page_and_its_figures_into_the_out_dir(tmp_path) -> None:
    path = tmp_path / "quick-20260101-000000.json"
    path.write_text(json.dumps(_suite_results()))
    out = tmp_path / "out"
    publish.report(str(path), str(out))
    page = (out / "benchmarks.md").read_text()
    assert page.startswith("# Benchmarks\n")
    images = sorted(p.name for p in (out / "img").iterdir())
    for name in ("p1", "p2", "p6"):  # the scenarios the file has
        assert f"bench-{name}.png" in images and f"bench-{name}.svg" in images
        assert f"(img/bench-{name}.png)" in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", path.name]


def test_channels_table_gives_oneloop_against_each_stock_consumer() -> None:
    def row(system: str, sockets: int, rate: float, unanswered: int = 0) -> dict:
        return {"system": system, "label": system, "sockets": sockets,
                "messages_per_s": rate, "p50_ms": 55.0, "p99_ms": 80.0,
                "unanswered": unanswered, "kib_per_socket": 12.34}  # fmt: skip

    results = {
        "machine": _suite_results()["machine"],
        "params": {"seconds": 10, "query_ms": 50, "pool_max": 50},
        "rows": [row("oneloop-sync", 100, 900.0), row("stock-sync", 100, 18.0),
                 row("stock-async", 100, 300.0, unanswered=3)],
    }  # fmt: skip
    text = "\n".join(comparisons.render_channels(results, "channels-x.json"))
    assert "[`channels-x.json`](../bench/results/channels-x.json)" in text
    assert "| 100 | oneloop-sync | 900.0 | 55 | 80 | 0 | 12.3 |  |" in text
    assert "| 100 | stock-sync | 18.0 | 55 | 80 | 0 | 12.3 | 50.00x |" in text
    assert "| 100 | stock-async | 300.0 | 55 | 80 | 3 | 12.3 | 3.00x |" in text


def _mysql_results() -> dict:
    def row(system: str, rps: float, failed: int = 0) -> dict:
        figures = {"system": system, "label": f"{system} label", "clients": 100,
                   "rps": rps, "requests": int(rps * 6), "p50_ms": 60.0,
                   "p99_ms": 90.0, "cpu_us_per_request": 900.0,
                   "socket_errors": 0, "non_2xx": failed}  # fmt: skip
        if not failed:  # an older results file has no such figure
            figures["cpu_wait_per_s"] = 0.3
        return figures

    return {
        "machine": _suite_results()["machine"],
        "params": {"seconds": 6, "warmup": 2, "calls": 2000, "repeats": 5,
                   "clients": 100, "pool": 80, "server_version": "MariaDB 10.11.6"},
        "P1": {"stock-sync": {"median": 200.0}, "oneloop-async": {"median": 250.0},
               "asyncmy-async": {"error": "asyncmy is not installed"}},
        "P2": [row("wsgi", 800.0), row("asgi-sync", 150.0, failed=40),
               row("oneloop-sync", 1200.0),
               {"system": "asgi-async", "label": "asgi-async label",
                "error": "RuntimeError: asgi-async exited"}],
    }  # fmt: skip


def test_mysql_tables_give_p1_against_stock_first_and_p2_against_wsgi() -> None:
    text = "\n".join(comparisons.render_mysql(_mysql_results(), "mysql-x.json"))
    assert "[`mysql-x.json`](../bench/results/mysql-x.json)" in text
    assert "`python -m bench.mysql_compare`" in text and "MariaDB 10.11.6" in text
    assert "| oneloop `afirst()` (asyncmy, on the loop) | 250.0 | 1.25x |" in text
    assert "| raw asyncmy `execute()` | error: asyncmy is not installed | - |" in text
    assert "`wrk -c 100 -d 6s` after a 2 s warm-up" in text
    assert "| wsgi label | 800 | 60.0 | 90.0 | 900 | 0.72 | 0.30 | 0 | 1.00x |" in text
    assert (
        "| oneloop-sync label | 1,200 | 60.0 | 90.0 | 900 | 1.08 | 0.30 | 0 | 1.50x |"
        in text
    )
    assert (
        "| asgi-sync label | 150 | 60.0 | 90.0 | 900 | 0.14 | - | 40 | failed requests"
        in text
    )
    assert "| asgi-async label | error: RuntimeError: asgi-async exited |" in text


def test_mysql_results_fill_the_mariadb_block_of_benchmarks_md(
    tmp_path, monkeypatch
) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("\n".join(benchmarks.MYSQL))
    path = tmp_path / "mysql-20260101-000000.json"
    path.write_text(json.dumps({"kind": "mysql", **_mysql_results()}))
    monkeypatch.setattr(publish, "DOCS_DIR", str(tmp_path))
    assert publish.comparison("mysql", str(path)) == str(page)
    text = page.read_text()
    assert "Not measured yet" not in text
    assert "(../bench/results/mysql-20260101-000000.json)" in text
    assert text.index("<!-- bench:mysql:start -->") < text.index("| wsgi label |")
    assert text.index("| wsgi label |") < text.index("<!-- bench:mysql:end -->")


@pytest.mark.parametrize(("server", "max_age"), [("uvicorn", 0), ("gthread", None)])
def test_stock_mysql_keeps_a_connection_per_thread_only_under_wsgi(
    monkeypatch, server: str, max_age: int | None
) -> None:
    import runpy

    for name, value in (("BENCH_DB", "mysql"), ("BENCH_SYSTEM", "stock"),
                        ("BENCH_SERVER", server)):  # fmt: skip
        monkeypatch.setenv(name, value)
    settings = runpy.run_path(os.path.join(publish.ROOT, "bench", "settings.py"))
    assert settings["DATABASES"]["default"]["CONN_MAX_AGE"] == max_age


def _tail_row(variant: str, p50: float, p99: float, spread: float) -> dict:
    gc = {"count": 1, "max_ms": 80.0, "total_ms": 80.0, "mean_ms": 80.0}
    return {
        "system": "oneloop-sync", "label": "oneloop-sync label", "variant": variant,
        "rps": 400.0, "p50_ms": p50, "p99_ms": p99, "requests": 2400,
        "probe": {
            "lag_p50_ms": 40.0, "lag_p99_ms": 150.0, "lag_max_ms": 160.0,
            "gc": {"0": {**gc, "total_ms": 10.0}, "1": {**gc, "total_ms": 5.0},
                   "2": gc},
            "requests": 2400, "in_app_p50_ms": 70.0, "in_app_p99_ms": 160.0,
            "connections": 50, "first_requests_spread_ms": spread,
        },
    }  # fmt: skip


def test_tail_table_sets_each_p99_against_its_p50_with_the_accept_spread(
    tmp_path, monkeypatch
) -> None:
    results = {
        "machine": _suite_results()["machine"],
        "params": {"mode": "full", "seconds": 6, "warmup": 2, "clients": 50,
                   "pool": 80},
        "rows": [_tail_row("suite", 100.0, 800.0, 950.0),
                 _tail_row("open first", 100.0, 160.0, 2.0),
                 {"system": "fastapi", "label": "fastapi label",
                  "variant": "asyncio loop", "error": "RuntimeError: exited"}],
    }  # fmt: skip
    text = "\n".join(comparisons.render_tail(results, "tail-x.json"))
    assert "`python -m bench.tail_compare`" in text
    assert (
        "| oneloop-sync label | suite | 400 | 100.0 / 800.0 | 8.00x | 950 ms (50 conn.)"
        " | 40.0 / 150.0 / 160.0 | 95 ms; gen 2: 1 x, max 80.0 ms | 70.0 / 160.0 |"
        in text
    )
    assert "| open first | 400 | 100.0 / 160.0 | 1.60x | 2 ms (50 conn.)" in text
    assert "| fastapi label | asyncio loop | error: RuntimeError: exited |" in text
    page = tmp_path / "benchmarks.md"
    page.write_text("\n".join(benchmarks.TAIL))
    path = tmp_path / "tail-20260101-000000.json"
    path.write_text(json.dumps({"kind": "tail", **results}))
    monkeypatch.setattr(publish, "DOCS_DIR", str(tmp_path))
    publish.comparison("tail", str(path))
    assert "| open first |" in page.read_text()


def test_round_two_targets_are_computed_from_the_run_met_or_missed() -> None:
    results = _suite_results()
    lines = "\n".join(round_two.section(results))
    values = round_two.values(results)
    assert values["p4_tail"] == [
        ("1w oneloop-sync", pytest.approx(r["p99_ms"] / r["p50_ms"]))
        for r in results["http"]
        if r.get("scenario") == "P4" and r["system"] == "oneloop-sync"
    ]
    for t in evidence.target_status(results, round_two.TARGETS, values):
        if t["met"] is False:
            assert f"**missed** | {round_two.WHY[t['key']]} |" in lines
        if t["met"] is None:
            assert f"| {t['what']} |" in lines and "not measured" in lines
