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
