"""Channels' own test suite with oneloop installed.

``python -m compat.channels_suite [--database sqlite|postgresql] [--stock]
[--source DIR] [pytest options]``

Channels' sdist carries no tests, so the suite comes from the Channels
repository at the tag of the installed version (downloaded once into
``compat/.cache``, or taken from ``--source``, a checkout or an extracted
archive of that tag). The run uses Channels' own test settings with two
lines added: ``"oneloop"`` in ``INSTALLED_APPS`` and the database on
oneloop's ENGINE (SQLite, as Channels' settings have it, or PostgreSQL on
the suite's server). ``--stock`` runs the same copy without them, for
comparison. Nothing else in Channels' tests changes; ``docs/channels.md``
lists the results and every deviation with its reason.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path

from compat.source import CACHE

__all__ = ["main"]

ARCHIVE = "https://github.com/django/channels/archive/refs/tags/{version}.tar.gz"
# What Channels' "tests" extra needs beyond oneloop's own test extra:
# import name -> pip requirement.
REQUIREMENTS = {"async_timeout": "async-timeout"}

SETTINGS = {
    "sqlite": """
INSTALLED_APPS.append("oneloop")
DATABASES["default"]["ENGINE"] = "oneloop.db.backends.sqlite3"
""",
    "postgresql": """
import os
INSTALLED_APPS.append("oneloop")
DATABASES = {{
    "default": {{
        "ENGINE": "oneloop.db.backends.postgresql",
        "NAME": "channels",
        "HOST": os.environ.get("ONELOOP_TEST_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("ONELOOP_TEST_PG_PORT", "5432"),
        "USER": os.environ.get("ONELOOP_TEST_PG_USER", "postgres"),
        "TEST": {{"NAME": "{test_name}"}},
    }}
}}
""",
}

# Loaded into the run with -p: chromium refuses to start as root (CI
# containers) without --no-sandbox, which Channels' selenium mixin does not
# pass. An environment fix; no test changes.
PLUGIN = """
import os

from selenium.webdriver import ChromeOptions

_init = ChromeOptions.__init__


def _init_for_containers(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    if os.geteuid() == 0:
        self.add_argument("--no-sandbox")
        self.add_argument("--disable-dev-shm-usage")


ChromeOptions.__init__ = _init_for_containers
"""


def source(version: str, given: Path | None) -> Path:
    """The Channels repository tree at ``version``."""
    if given is not None:
        return given
    root = CACHE / "src" / f"channels-{version}"
    if not (root / "tests").is_dir():
        archive = CACHE / f"channels-{version}.tar.gz"
        if not archive.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            urllib.request.urlretrieve(ARCHIVE.format(version=version), archive)
        with tarfile.open(archive) as tar:  # its top directory is root's name
            tar.extractall(CACHE / "src", filter="data")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat.channels_suite")
    parser.add_argument("--database", choices=sorted(SETTINGS), default="sqlite")
    parser.add_argument("--stock", action="store_true", help="without oneloop")
    parser.add_argument("--source", type=Path, help="Channels at the tag")
    args, pytest_args = parser.parse_known_args(argv)

    version = importlib.metadata.version("channels")
    tree = source(version, args.source)
    mode = "stock" if args.stock else f"oneloop-{args.database}"
    work = CACHE / "runs" / f"channels-{version}-{mode}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(tree / "tests", work / "tests")
    shutil.copy(tree / "setup.cfg", work / "setup.cfg")
    if not args.stock:
        test_name = os.environ.get("ONELOOP_TEST_PG_NAME", "test_oneloop") + "_channels"
        with (work / "tests/sample_project/config/settings.py").open("a") as out:
            out.write(SETTINGS[args.database].format(test_name=test_name))
    (work / "oneloop_channels_plugin.py").write_text(PLUGIN)
    missing = [req for name, req in REQUIREMENTS.items() if not find_spec(name)]
    if missing:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True
        )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "oneloop_channels_plugin",
            "-p",
            "no:cacheprovider",
            "tests",
            *pytest_args,
        ],
        cwd=work,
        env=env,
    ).returncode


if __name__ == "__main__":
    sys.exit(main())
