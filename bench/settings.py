"""Django settings shared by every Django system in the benchmark.

One module, switched by environment variables, so that stock Django and
Django + oneloop differ only in what is being measured:

``BENCH_SYSTEM``
    ``stock`` (Django's own ENGINE, oneloop not installed), ``oneloop``
    (oneloop installed, oneloop ENGINE) or ``stock+app`` (oneloop installed
    but Django's own ENGINE: the P3 "sync deployment" case).
``BENCH_DB``
    ``postgresql`` (default), ``mysql`` (MariaDB or MySQL) or ``sqlite``.
``BENCH_POOL``
    connection pool size per process (``min_size == max_size``, so every
    system starts with a warm pool). Django's docs recommend a pool rather than
    persistent connections under ASGI; we use the same pool everywhere.
``BENCH_PG_HOST``, ``BENCH_PG_PORT``, ``BENCH_PG_USER``, ``BENCH_PG_NAME``,
``BENCH_MYSQL_HOST``, ``BENCH_MYSQL_PORT``, ``BENCH_MYSQL_USER``,
``BENCH_MYSQL_NAME``, ``BENCH_SQLITE_PATH``
    where the database is.
``BENCH_SERVER``
    the HTTP server running the project (``gthread``, ``gevent`` or
    ``uvicorn``; unset in-process): stock Django on MariaDB/MySQL, which has
    no pool, closes its connections after each request under ``uvicorn``.
"""

from __future__ import annotations

import os

SYSTEM = os.environ.get("BENCH_SYSTEM", "stock")
DB = os.environ.get("BENCH_DB", "postgresql")
POOL = int(os.environ.get("BENCH_POOL", "20"))
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("BENCH_PG_PORT", "5432")
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
PG_NAME = os.environ.get("BENCH_PG_NAME", "oneloop_bench")
MYSQL_HOST = os.environ.get("BENCH_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = os.environ.get("BENCH_MYSQL_PORT", "3306")
MYSQL_USER = os.environ.get("BENCH_MYSQL_USER", "root")
MYSQL_NAME = os.environ.get("BENCH_MYSQL_NAME", "oneloop_bench")
SQLITE_PATH = os.environ.get("BENCH_SQLITE_PATH", "oneloop_bench.sqlite3")
SERVER = os.environ.get("BENCH_SERVER", "")

if SYSTEM not in {"stock", "oneloop", "stock+app"}:
    raise RuntimeError(f"BENCH_SYSTEM must be stock, oneloop or stock+app: {SYSTEM!r}")
if DB not in {"postgresql", "mysql", "sqlite"}:
    raise RuntimeError(f"BENCH_DB must be postgresql, mysql or sqlite, not {DB!r}")

ONELOOP_INSTALLED = SYSTEM in {"oneloop", "stock+app"}
ONELOOP_ENGINE = SYSTEM == "oneloop"

SECRET_KEY = "oneloop-bench-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The apps and middleware of `django-admin startproject`: what a real project
# runs on every request (none of them touches the database unless asked to).
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "bench.benchapp",
]
if ONELOOP_INSTALLED:
    INSTALLED_APPS.append("oneloop")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.benchapp.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

_pool = {"min_size": POOL, "max_size": POOL, "timeout": 30}
if DB == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": (
                "oneloop.db.backends.postgresql"
                if ONELOOP_ENGINE
                else "django.db.backends.postgresql"
            ),
            "NAME": PG_NAME,
            "USER": PG_USER,
            "HOST": PG_HOST,
            "PORT": PG_PORT,
            "OPTIONS": {"pool": _pool},
        }
    }
elif DB == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": (
                "oneloop.db.backends.mysql"
                if ONELOOP_ENGINE
                else "django.db.backends.mysql"
            ),
            "NAME": MYSQL_NAME,
            "USER": MYSQL_USER,
            "HOST": MYSQL_HOST,
            "PORT": MYSQL_PORT,
            # Django's MySQL backend has no pool: outside a bridge it keeps
            # one connection per thread (CONN_MAX_AGE), oneloop's pool
            # serves bridges. Under ASGI, where stock Django runs each
            # request's sync code in a thread of its own, a persistent
            # connection per thread would pile up to max_connections: Django's
            # docs say to disable persistent connections there.
            **(
                {"OPTIONS": {"pool": _pool}}
                if ONELOOP_ENGINE
                else {"CONN_MAX_AGE": 0 if SERVER == "uvicorn" else None}
            ),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": (
                "oneloop.db.backends.sqlite3"
                if ONELOOP_ENGINE
                else "django.db.backends.sqlite3"
            ),
            "NAME": SQLITE_PATH,
        }
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
