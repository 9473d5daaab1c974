"""oneloop adds nothing to a sync test under pytest-django: no fixture, no
event loop. ``async def`` tests still see the test's transaction (the
connection handler resolves pinned aliases on the loop itself).

Each test runs pytest in a subprocess on a small project of its own, as a
user's suite would run."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SETTINGS = """
SECRET_KEY = "not secret"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "oneloop"]
DATABASES = {
    "default": {"ENGINE": "oneloop.db.backends.sqlite3", "NAME": "db.sqlite3"}
}
USE_TZ = True
"""

TESTS = """
import pytest
from django.contrib.auth.models import User
from django.test import TestCase


def test_plain():
    assert True


@pytest.mark.django_db
def test_database():
    assert User.objects.count() == 0


class UnitTests(TestCase):
    def test_database(self):
        self.assertEqual(User.objects.count(), 0)


@pytest.mark.django_db
@pytest.mark.parametrize("run", [1, 2])
async def test_async_database(run, django_assert_num_queries):
    # The rows of run 1 were rolled back with its test transaction.
    assert await User.objects.acount() == 0
    await User.objects.acreate(username="ann")
    # Counted on django.db.connection, read directly on the loop.
    with django_assert_num_queries(1):
        assert await User.objects.acount() == 1
"""

INI = """
[pytest]
DJANGO_SETTINGS_MODULE = project_settings
pythonpath = .
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

SYNC_TESTS = (
    "test_project.py::test_plain",
    "test_project.py::test_database",
    "test_project.py::UnitTests::test_database",
)
ASYNC_TESTS = (
    "test_project.py::test_async_database[1]",
    "test_project.py::test_async_database[2]",
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "project_settings.py").write_text(SETTINGS)
    (tmp_path / "test_project.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text(INI)
    return tmp_path


def run_pytest(project: Path, *args: str) -> str:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS")
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fixtures_used(setup_plan: str) -> dict[str, set[str]]:
    """Test id -> the fixtures ``pytest --setup-plan`` says it uses."""
    return {
        match["test"]: set(match["fixtures"].split(", "))
        for match in re.finditer(
            r"^\s*(?P<test>\S+::\S+) \(fixtures used: (?P<fixtures>[^)]*)\)",
            setup_plan,
            re.MULTILINE,
        )
    }


def test_setup_plan_of_a_sync_test_has_no_event_loop_from_oneloop(project):
    used = fixtures_used(run_pytest(project, "--setup-plan"))
    assert set(used) == {*SYNC_TESTS, *ASYNC_TESTS}
    # pytest-asyncio runs an async test on a loop of its own: the plan shows
    # it (a "runner" fixture; "event_loop" before pytest-asyncio 1.0).
    loop_fixtures = {
        name
        for name in used[ASYNC_TESTS[0]]
        if "runner" in name or name == "event_loop"
    }
    assert loop_fixtures, used[ASYNC_TESTS[0]]
    for test in SYNC_TESTS:
        assert not used[test] & loop_fixtures, (test, used[test])
        assert not [name for name in used[test] if "oneloop" in name], test


def test_async_test_sees_its_transaction_without_a_plugin(project):
    assert "5 passed" in run_pytest(project, "-q")
