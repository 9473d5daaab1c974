"""Django's test suite and its requirements, for the Django that is installed.

The tests must match the installed Django exactly, so the harness downloads
the sdist of that very version from PyPI (it carries ``tests/``,
``runtests.py`` and ``requirements/``), caches it in ``compat/.cache`` and
extracts it once.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

__all__ = [
    "CACHE",
    "REQUIREMENTS",
    "django_version",
    "ensure_requirements",
    "ensure_source",
]

CACHE = Path(__file__).resolve().parent / ".cache"

# import name -> pip requirement. What the database-related labels need from
# Django's tests/requirements/py3.txt; the rest (selenium, memcached clients,
# geoip2, black, docutils, pywatchman) only enable tests that skip without it.
REQUIREMENTS = {
    "tblib": "tblib",
    "PIL": "Pillow",
    "jinja2": "jinja2",
    "aiosmtpd": "aiosmtpd",
    "argon2": "argon2-cffi",
    "bcrypt": "bcrypt",
    "numpy": "numpy",
    "yaml": "PyYAML",
    "psycopg": "psycopg[binary]",
    "psycopg_pool": "psycopg-pool",
    "greenlet": "greenlet",
}


def django_version(python: str = sys.executable) -> str:
    """The version of the Django that ``python`` imports."""
    out = subprocess.run(
        [python, "-c", "import django; print(django.get_version())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def ensure_source(version: str, python: str = sys.executable) -> Path:
    """Path of ``tests/`` of Django ``version``'s sdist; downloads it with
    ``python``'s pip (which must accept the version's Requires-Python) and
    extracts it into the cache the first time."""
    root = CACHE / "src" / f"django-{version}"
    done = root / ".extracted"
    if done.exists():
        return root / "tests"
    sdist_dir = CACHE / "sdist"
    sdist_dir.mkdir(parents=True, exist_ok=True)
    archive = sdist_dir / f"django-{version}.tar.gz"
    if not archive.exists():
        print(f"compat: downloading the Django {version} sdist", flush=True)
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--dest",
                str(sdist_dir),
                f"django=={version}",
            ],
            check=True,
        )
    if not archive.exists():  # older sdists are named Django-X.tar.gz
        matches = [p for p in sdist_dir.iterdir() if p.name.lower() == archive.name]
        if not matches:
            raise FileNotFoundError(f"pip did not leave {archive.name} in {sdist_dir}")
        archive = matches[0]
    print(f"compat: extracting {archive.name}", flush=True)
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE / "src", filter="data")
    extracted = CACHE / "src" / archive.name.removesuffix(".tar.gz")
    if extracted != root:
        extracted.rename(root)
    done.touch()
    return root / "tests"


def ensure_requirements(python: str = sys.executable) -> None:
    """Install into ``python``'s environment the test requirements it lacks."""
    probe = (
        "import importlib.util as u, sys; "
        "print(' '.join(m for m in sys.argv[1:] if u.find_spec(m) is None))"
    )
    out = subprocess.run(
        [python, "-c", probe, *REQUIREMENTS],
        check=True,
        capture_output=True,
        text=True,
    )
    missing = [REQUIREMENTS[name] for name in out.stdout.split()]
    if missing:
        print(f"compat: installing {' '.join(missing)}", flush=True)
        cmd = [python, "-m", "pip", "install", "--quiet", *missing]
        subprocess.run(cmd, check=True)
