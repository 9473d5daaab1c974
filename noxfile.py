"""The version matrix: ``nox`` runs oneloop's suite on each supported
Python and Django (CI runs the main combination, Python 3.11 + Django 5.2,
through scripts/test.sh).

    nox                      # every session
    nox -s "tests(3.13(django='6.1'))"
    nox -s "tests(3.12(django='5.2'))" -- -k bridge

pyenv installs are found without putting them on PATH.
"""

from __future__ import annotations

import glob
import os
import shutil

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

MATRIX = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.13", "5.2"),
    ("3.12", "6.1"),  # Django 6 needs Python 3.12 or newer
    ("3.13", "6.1"),
]


def _interpreter(version: str) -> str:
    """``pythonX.Y`` from PATH, else from a pyenv install."""
    on_path = shutil.which(f"python{version}")
    if on_path and "/shims/" not in on_path:
        return on_path
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
    return found[-1] if found else f"python{version}"


@nox.session
@nox.parametrize(
    ("python", "django"),
    [(_interpreter(py), dj) for py, dj in MATRIX],
    ids=[f"{py}(django='{dj}')" for py, dj in MATRIX],
)
def tests(session: nox.Session, django: str) -> None:
    """oneloop's suite on PostgreSQL and on SQLite."""
    session.install("-e", ".[test]", f"django~={django}.0")
    safe = "".join(c if c.isalnum() else "_" for c in session.name)[-40:]
    env = {"ONELOOP_TEST_PG_NAME": f"test_oneloop_{safe}".lower()}
    for db in ("postgresql", "sqlite"):
        session.run("pytest", *session.posargs, env={**env, "ONELOOP_TEST_DB": db})
