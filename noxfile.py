"""The version matrix: ``nox`` runs oneloop's suite on each supported
Python and Django (``compat/matrix.py`` lists them; CI runs the combinations
marked there through scripts/test.sh).

    nox                      # every session
    nox -s "tests(3.13(django='6.1'))"
    nox -s "tests(3.12(django='5.2'))" -- -k bridge

pyenv installs are found without putting them on PATH.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

_spec = importlib.util.spec_from_file_location(
    "matrix", Path(__file__).parent / "compat" / "matrix.py"
)
assert _spec is not None and _spec.loader is not None
matrix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(matrix)


@nox.session
@nox.parametrize(
    ("python", "django"),
    [
        (matrix.interpreter(c.python) or f"python{c.python}", c.django)
        for c in matrix.MATRIX
    ],
    ids=[f"{c.python}(django='{c.django}')" for c in matrix.MATRIX],
)
def tests(session: nox.Session, django: str) -> None:
    """oneloop's suite on PostgreSQL and on SQLite."""
    session.install("-e", ".[test]", f"django~={django}.0")
    # One test database per session, under the name the caller may have set.
    base = os.environ.get("ONELOOP_TEST_PG_NAME", "test_oneloop")
    safe = "".join(c if c.isalnum() else "_" for c in session.name)[-40:]
    env = {"ONELOOP_TEST_PG_NAME": f"{base}_{safe}".lower()}
    for db in ("postgresql", "sqlite"):
        session.run("pytest", *session.posargs, env={**env, "ONELOOP_TEST_DB": db})
