"""``pip install django-oneloop`` from a built wheel works in a fresh venv:
the package imports, ships ``py.typed`` and its license, declares the
supported versions, and the demo project passes ``manage.py check`` with
nothing but the installed wheel and its ``channels`` extra, which the demo's
live page needs (no checkout on the path)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.examples.conftest import DEMO_DIR, ROOT

pytestmark = pytest.mark.slow


def run(*cmd: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"{cmd}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


@pytest.mark.timeout(900)
def test_wheel_installs_into_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, ROOT)
    (wheel,) = dist.glob("django_oneloop-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = archive.read(metadata).decode()
    assert "oneloop/py.typed" in names
    assert any(n.endswith("/licenses/LICENSE") or n.endswith("/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "examples/", "bench/")) for n in names)
    for classifier in (
        "Framework :: Django :: 5.2",
        "Framework :: Django :: 6",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ):
        assert f"Classifier: {classifier}" in meta

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", f"{wheel}[channels]")

    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["DJANGO_SETTINGS_MODULE"] = "bookshop.settings"
    env["BOOKSHOP_SQLITE"] = str(tmp_path / "db.sqlite3")
    where = run(
        python,
        "-c",
        "import oneloop; print(oneloop.__file__, oneloop.__version__)",
        cwd=tmp_path,
        env=env,
    )
    assert str(venv) in where and str(ROOT / "oneloop") not in where

    out = run(python, "manage.py", "check", cwd=DEMO_DIR, env=env)
    assert "System check identified no issues" in out
