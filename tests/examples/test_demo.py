"""The demo's command line: set up, serve, and the side-by-side load report."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.examples.conftest import DEMO_DIR, Server
from tests.servers import ROOT, free_port


def test_pages_answer(sqlite_demo: Server) -> None:
    with httpx.Client(base_url=sqlite_demo.url, timeout=10) as client:
        assert client.get("/").status_code == 302
        assert "120 books" in client.get("/books/").text
        found = client.get("/api/books/", params={"q": "river"}).json()
        assert found["count"] > 0 and found["read_from"] == "replica"
        assert all(
            "river" in (b["title"] + b["author"]).lower() for b in found["books"]
        )
        stats = client.get("/api/stats/").json()
        assert stats["books"] == 120 and stats["reviews"] == 200
        assert client.get("/outbox/").status_code == 302  # login required
        assert client.get("/static/admin/css/base.css").status_code == 200


@pytest.mark.slow
def test_load_report(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["BOOKSHOP_SQLITE"] = str(tmp_path / "db.sqlite3")
    result = subprocess.run(
        [sys.executable, "demo.py", "--load", "--seconds", "1", "--clients", "4"],
        cwd=DEMO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("page"))
    assert "oneloop" in header and "stock Django" in header
    rows = [line for line in lines if line.startswith("/")]
    assert len(rows) == 3
    for row in rows:
        ours, theirs = row.split()[1:3]
        assert float(ours) > 0 and float(theirs) > 0


@pytest.mark.slow
def test_readme_command_serves_the_demo(tmp_path: Path) -> None:
    """The README's main command as a new user runs it, ``sh examples/run.sh``
    (here inside this virtualenv, so it installs nothing): it migrates, loads
    the sample data and serves the demo on SQLite until it is stopped."""
    _serve_with_run_sh(BOOKSHOP_SQLITE=str(tmp_path / "db.sqlite3"))


@pytest.mark.slow
@pytest.mark.mysql
def test_run_sh_serves_the_demo_on_mariadb() -> None:
    """``DATABASE_URL=mysql://… sh examples/run.sh``: the demo on MariaDB."""
    import MySQLdb
    from django.conf import settings

    name = f"{settings.DATABASES['default']['TEST']['NAME']}_bookshop"
    admin = MySQLdb.connect(
        host=settings.MYSQL_HOST, port=int(settings.MYSQL_PORT), user="root"
    )
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
    admin.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        _serve_with_run_sh(
            DATABASE_URL=(
                f"mysql://{settings.MYSQL_USER}@{settings.MYSQL_HOST}:"
                f"{settings.MYSQL_PORT}/{name}"
            )
        )
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@pytest.mark.mysql
def test_a_missing_database_stops_the_demo_with_what_to_do() -> None:
    """A new user who has not created the database yet gets Django's error
    and one line saying what to check, not a traceback of the demo."""
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DATABASE_URL"] = (
        f"mysql://{settings.MYSQL_USER}@{settings.MYSQL_HOST}:"
        f"{settings.MYSQL_PORT}/oneloop_no_such_database"
    )
    result = subprocess.run(
        [sys.executable, "demo.py"],
        cwd=DEMO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Unknown database 'oneloop_no_such_database'" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "The demo stopped: manage.py migrate failed (exit status 1); "
        "DATABASE_URL's server must answer and its database exist "
        "(create it first: docs/getting-started.md)."
    )
    assert "CalledProcessError" not in result.stderr


def _serve_with_run_sh(**extra_env: str) -> None:
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        VIRTUAL_ENV=str(bin_dir.parent),
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        **extra_env,
    )
    command = ["sh", "examples/run.sh", "--port", str(free_port())]
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the server too
    ) as proc:
        try:
            assert proc.stdout is not None
            output = []
            for line in proc.stdout:
                output.append(line)
                if "is up at" in line:
                    break
            else:
                pytest.fail("run.sh ended before serving:\n" + "".join(output[-30:]))
            url = line.split("is up at", 1)[1].strip()
            page = httpx.get(url + "books/", timeout=30)
            assert page.status_code == 200
            assert "120 books" in page.text
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.communicate(timeout=30)
        assert proc.returncode == 0
