"""Fixtures for the tests of the bookshop demo (``examples/bookshop``).

The demo runs as a user runs it: ``manage.py migrate`` and ``seed`` in a
subprocess, then uvicorn on a free loopback port, through the functions of
``examples/bookshop/demo.py``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = ROOT / "examples" / "bookshop"


def load_demo() -> ModuleType:
    """``examples/bookshop/demo.py`` as a module."""
    spec = importlib.util.spec_from_file_location("bookshop_demo", DEMO_DIR / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = load_demo()


class Server:
    """A running demo: its base URL and its log file."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo on its default embedded database (a fresh SQLite file), one
    uvicorn worker."""
    where = tmp_path_factory.mktemp("bookshop")
    env = {"BOOKSHOP_SQLITE": str(where / "db.sqlite3")}
    demo.setup(**env)
    port = demo.free_port()
    log = where / "server.log"
    proc = demo.start_server(port, log=log, **env)
    try:
        yield Server(f"http://127.0.0.1:{port}", log)
    finally:
        demo.stop_server(proc)
