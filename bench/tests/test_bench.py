"""Tests of the benchmark's own logic (parsing, ratios, twin counting).

Run with ``python -m pytest bench/tests``; they need no server.
"""

from __future__ import annotations

import textwrap

import pytest

from bench.duplication import twins_in_file
from bench.load import _ms, parse_wrk
from bench.report import _best, _clean, headline

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
    assert not _clean(fast_but_failing)
    assert (
        _best([fast_but_failing, honest], ("oneloop-sync", "oneloop-async"), 1, 100)
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
