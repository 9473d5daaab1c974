"""Real requests through the servers the suite runs the ASGI systems under.

Unlike the other bench tests these start a server: each serves the bench
project on an SQLite database of its own in a temporary directory.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from bench.db import choose_target, prepare
from bench.servers import SYSTEMS, Server


@pytest.mark.parametrize("name", ["oneloop-sync-granian", "oneloop-async-granian"])
def test_oneloop_serves_a_request_under_granian(name: str, tmp_path) -> None:
    target = choose_target("sqlite", str(tmp_path / "bench.sqlite3"))
    prepare(target)
    server = Server(SYSTEMS[name], workers=1, pool=2, target=target)
    assert server.command()[1:3] == ["-m", "granian"]
    server.start()
    try:
        with urllib.request.urlopen(server.url("P2"), timeout=30) as response:
            status, headers, body = response.status, response.headers, response.read()
    finally:
        server.stop()
    assert status == 200
    assert headers["server"] == "granian"
    item = json.loads(body)
    assert item["name"] == f"item number {item['n']}"


def test_the_tail_probe_watches_the_loop_that_serves_the_view(tmp_path) -> None:
    from bench.tail_compare import ProbedServer

    target = choose_target("sqlite", str(tmp_path / "bench.sqlite3"))
    prepare(target)
    server = ProbedServer(SYSTEMS["oneloop-sync"], "asyncio", target)
    assert "bench.probe:application" in server.command()
    assert server.command()[server.command().index("--loop") + 1] == "asyncio"
    server.start()
    try:
        server.probe("reset/")
        for _ in range(3):
            with urllib.request.urlopen(server.url("P4"), timeout=30) as response:
                assert response.status == 200
                assert b"<title>Items</title>" in response.read()
        seen = server.probe()
    finally:
        server.stop()
    assert seen["requests"] == 3
    assert seen["connections"] == 3  # urllib opens one connection per request
    assert seen["in_app_p50_ms"] > 0 and seen["lag_max_ms"] is not None
    assert set(seen["gc"]) == {"0", "1", "2"}
