"""What every compat settings module shares, taken from Django's
``tests/test_sqlite.py`` so the suite runs as Django's own CI runs it.

The PostgreSQL server and the database names come from the environment, so
several runs (sync and bridged, oneloop and stock, other developers' runs) can
share one server without dropping each other's test databases:

* ``ONELOOP_COMPAT_DB_TAG``: prefix of the database names (the harness sets
  it to ``compat_<engine>_<mode>``); the test databases are
  ``test_<tag>_default`` and ``test_<tag>_other`` plus Django's per-worker
  clones ``…_1``, ``…_2``.
* ``ONELOOP_COMPAT_PG_HOST``, ``ONELOOP_COMPAT_PG_PORT``,
  ``ONELOOP_COMPAT_PG_USER``, ``ONELOOP_COMPAT_PG_PASSWORD``: the server
  (default ``postgres@127.0.0.1:5432``, trust auth). The user needs CREATEDB.
* ``ONELOOP_COMPAT_MYSQL_HOST``, ``…_PORT``, ``…_USER``, ``…_PASSWORD``: the
  MariaDB/MySQL server (default ``root@127.0.0.1:3306``, no password).
"""

from __future__ import annotations

import os
from typing import Any

import django

SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
USE_TZ = False
if django.VERSION < (6, 0):
    # Django 6.0 made BigAutoField the default; 5.2's own settings pin this.
    DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# Filters the few tests that fail as root on stock Django too, applies the
# bridged-only deviations, runs parallel workers bridged and records results.
TEST_RUNNER = "compat.runner.CompatRunner"

DB_TAG = os.environ.get("ONELOOP_COMPAT_DB_TAG", "compat")


def postgresql_databases(engine: str) -> dict[str, dict[str, Any]]:
    """``default`` and ``other`` on the PostgreSQL server, as Django's suite
    needs (multi-database tests use ``other``)."""
    common = {
        "ENGINE": engine,
        "HOST": os.environ.get("ONELOOP_COMPAT_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("ONELOOP_COMPAT_PG_PORT", "5432"),
        "USER": os.environ.get("ONELOOP_COMPAT_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("ONELOOP_COMPAT_PG_PASSWORD", ""),
    }
    return {
        alias: {**common, "NAME": f"{DB_TAG}_{alias}"} for alias in ("default", "other")
    }


def sqlite_databases(engine: str) -> dict[str, dict[str, Any]]:
    """``default`` and ``other`` as in Django's ``test_sqlite.py``: no NAME, so
    the test databases are in memory."""
    return {alias: {"ENGINE": engine} for alias in ("default", "other")}


def mysql_databases(engine: str) -> dict[str, dict[str, Any]]:
    """``default`` and ``other`` on the MariaDB/MySQL server
    (``ONELOOP_COMPAT_MYSQL_HOST``/``_PORT``/``_USER``/``_PASSWORD``, default
    ``root@127.0.0.1:3306``), in utf8mb4."""
    common = {
        "ENGINE": engine,
        "HOST": os.environ.get("ONELOOP_COMPAT_MYSQL_HOST", "127.0.0.1"),
        "PORT": os.environ.get("ONELOOP_COMPAT_MYSQL_PORT", "3306"),
        "USER": os.environ.get("ONELOOP_COMPAT_MYSQL_USER", "root"),
        "PASSWORD": os.environ.get("ONELOOP_COMPAT_MYSQL_PASSWORD", ""),
        "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_general_ci"},
    }
    return {
        alias: {**common, "NAME": f"{DB_TAG}_{alias}"} for alias in ("default", "other")
    }
