"""The Python and Django versions oneloop is tested on, what CI runs on each,
and where each Python is.

One source for ``scripts/setup.sh`` and ``scripts/test.sh`` (CI runs the
combinations marked ``ci``), ``noxfile.py`` (every combination, by hand) and
the version table of ``docs/compatibility.md``. Standard library only, so any
Python 3.11 or newer runs it from the repository's root::

    python3 -m compat.matrix ci           # CI's combinations, one a line:
                                          # python django venv databases
                                          # compat-runs
    python3 -m compat.matrix ci 6.1       # the line of Django 6.1
    python3 -m compat.matrix python 3.13  # path of a Python 3.13, or exit 1

Interpreters come from PATH (``python3.13``), else from a pyenv install
(``$PYENV_ROOT/versions/3.13.*``), so a fresh machine with pyenv needs no
shims or ``pyenv global``.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
from typing import NamedTuple

__all__ = ["MATRIX", "Combination", "interpreter", "main"]


class Combination(NamedTuple):
    """One Python and Django pair; ``ci``: scripts/test.sh runs oneloop's
    suite on it, on each of ``databases``; ``compat``: the (backend, mode)
    runs of Django's own test suite, its CI labels, that scripts/test.sh
    makes."""

    python: str
    django: str
    ci: bool = False
    compat: tuple[tuple[str, str], ...] = ()
    databases: tuple[str, ...] = ("postgresql", "sqlite")

    @property
    def venv(self) -> str:
        """Its virtualenv: ``.venv`` for the main combination (the first),
        ``.venv-django<version>`` for the others CI runs."""
        return ".venv" if self == MATRIX[0] else f".venv-django{self.django}"


MATRIX: tuple[Combination, ...] = (
    # The main one: .venv; lint and the benchmark suite's tests run here.
    Combination(
        "3.11",
        "5.2",
        ci=True,
        compat=(
            ("postgresql", "sync"),
            ("postgresql", "bridged"),
            ("sqlite", "sync"),
            ("mysql", "sync"),
            ("mysql", "bridged"),
            # gis_tests on the GeoDjango ENGINE (about a minute a mode).
            ("postgis", "sync"),
            ("postgis", "bridged"),
        ),
        # MariaDB on the main combination: its ENGINE's code does not
        # depend on the Django version more than the others' do.
        databases=("postgresql", "sqlite", "mysql"),
    ),
    Combination("3.12", "5.2"),
    Combination("3.13", "5.2"),
    Combination("3.12", "6.0", ci=True),  # Django 6 needs Python 3.12 or newer
    Combination("3.13", "6.0"),
    Combination("3.12", "6.1"),
    # Django 6.1's own test suite needs Python 3.13 (or a recent 3.12.x).
    Combination(
        "3.13",
        "6.1",
        ci=True,
        compat=(("postgresql", "sync"), ("postgresql", "bridged")),
    ),
)


def interpreter(version: str) -> str | None:
    """Path of a ``pythonX.Y`` on PATH (pyenv shims excepted: they may point
    elsewhere), else of the newest pyenv install of it, else ``None``."""
    on_path = shutil.which(f"python{version}")
    if on_path and "/shims/" not in on_path:
        return on_path
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    releases = {}  # final releases only: 3.13.0, not 3.13.0rc1 or 3.13t
    for path in glob.glob(f"{root}/versions/{version}.*/bin/python{version}"):
        name = path.split("/")[-3]
        if name.replace(".", "").isdigit():
            releases[tuple(int(part) for part in name.split("."))] = path
    return releases[max(releases)] if releases else None


def _ci(django: str | None) -> int:
    lines = [
        f"{c.python} {c.django} {c.venv} {','.join(c.databases)} "
        + (",".join(f"{backend}:{mode}" for backend, mode in c.compat) or "-")
        for c in MATRIX
        if c.ci and django in (None, c.django)
    ]
    if not lines:
        print(f"CI runs no Django {django} (compat/matrix.py)", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _python(version: str) -> int:
    path = interpreter(version)
    if path is None:
        print(
            f"Python {version} not found on PATH (python{version}) nor in pyenv: "
            f"install it with `pyenv install {version}`.",
            file=sys.stderr,
        )
        return 1
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m compat.matrix", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_ci = sub.add_parser("ci", help="what CI runs: python django venv compat-runs")
    p_ci.add_argument("django", nargs="?", help="only this Django, e.g. 6.1")
    p_python = sub.add_parser("python", help="path of an interpreter")
    p_python.add_argument("version", help="e.g. 3.13")
    args = parser.parse_args(argv)
    if args.command == "ci":
        return _ci(args.django)
    return _python(args.version)


if __name__ == "__main__":
    sys.exit(main())
