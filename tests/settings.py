"""Settings for oneloop's own test suite.

``ONELOOP_TEST_DB`` picks the database the suite runs on: ``postgresql``
(default), ``sqlite`` or ``mysql`` (MariaDB or MySQL). The PostgreSQL server
comes from ``ONELOOP_TEST_PG_*`` (host 127.0.0.1, port 5432, user postgres,
trust auth), the MariaDB/MySQL server from ``ONELOOP_TEST_MYSQL_*`` (host
127.0.0.1, port 3306, user root, no password); Redis from
``ONELOOP_TEST_REDIS_URL``. The PostgreSQL pass adds a ``postgis`` alias on
the GeoDjango ENGINE where PostGIS, GDAL and GEOS are installed.
"""

import ctypes.util
import os
import tempfile

import django

DB = os.environ.get("ONELOOP_TEST_DB", "postgresql")
PG_HOST = os.environ.get("ONELOOP_TEST_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("ONELOOP_TEST_PG_PORT", "5432")
PG_USER = os.environ.get("ONELOOP_TEST_PG_USER", "postgres")
MYSQL_HOST = os.environ.get("ONELOOP_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = os.environ.get("ONELOOP_TEST_MYSQL_PORT", "3306")
MYSQL_USER = os.environ.get("ONELOOP_TEST_MYSQL_USER", "root")
REDIS_URL = os.environ.get("ONELOOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

SECRET_KEY = "oneloop-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Django's live server serves STATIC_URL (and MEDIA_URL); it needs one set.
STATIC_URL = "static/"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "oneloop",
    "tests.testapp",
]

if DB == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "oneloop.db.backends.postgresql",
            "NAME": "oneloop",
            "USER": PG_USER,
            "HOST": PG_HOST,
            "PORT": PG_PORT,
            "OPTIONS": {"pool": {"min_size": 1, "max_size": 60, "timeout": 10}},
            "TEST": {"NAME": os.environ.get("ONELOOP_TEST_PG_NAME", "test_oneloop")},
        },
        # The same database through a deliberately tiny pool, to test running
        # out of connections.
        "tiny_pool": {
            "ENGINE": "oneloop.db.backends.postgresql",
            "NAME": "oneloop",
            "USER": PG_USER,
            "HOST": PG_HOST,
            "PORT": PG_PORT,
            "OPTIONS": {"pool": {"min_size": 1, "max_size": 2, "timeout": 0.3}},
            "TEST": {"MIRROR": "default"},
        },
        # The same database with a small connection budget, its connections
        # named for pg_stat_activity (tests/db/test_budget.py).
        "budget": {
            "ENGINE": "oneloop.db.backends.postgresql",
            "NAME": "oneloop",
            "USER": PG_USER,
            "HOST": PG_HOST,
            "PORT": PG_PORT,
            "OPTIONS": {
                "pool": {"min_size": 2, "max_size": 6, "timeout": 30},
                "application_name": "oneloop-budget-test",
            },
            "TEST": {"MIRROR": "default"},
        },
    }
elif DB == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "oneloop.db.backends.sqlite3",
            "NAME": os.environ.get("ONELOOP_TEST_SQLITE_NAME", "oneloop-test.sqlite3"),
            # A file, so tests exercise per-task connections and their
            # threads (an in-memory test database is one shared connection).
            "TEST": {
                "NAME": os.environ.get(
                    "ONELOOP_TEST_SQLITE_TEST_NAME",
                    os.path.join(
                        tempfile.gettempdir(), f"oneloop-test-{os.getpid()}.sqlite3"
                    ),
                )
            },
        }
    }
elif DB == "mysql":
    _mysql = {
        "ENGINE": "oneloop.db.backends.mysql",
        "NAME": "test",
        "USER": MYSQL_USER,
        "HOST": MYSQL_HOST,
        "PORT": MYSQL_PORT,
    }
    DATABASES = {
        "default": {
            **_mysql,
            "OPTIONS": {"pool": {"min_size": 1, "max_size": 60, "timeout": 10}},
            "TEST": {
                "NAME": os.environ.get("ONELOOP_TEST_MYSQL_NAME", "test_oneloop"),
                "CHARSET": "utf8mb4",
                "COLLATION": "utf8mb4_unicode_ci",
            },
        },
        # The same database through a deliberately tiny pool.
        "tiny_pool": {
            **_mysql,
            "OPTIONS": {"pool": {"min_size": 1, "max_size": 2, "timeout": 0.3}},
            "TEST": {"MIRROR": "default"},
        },
    }
else:
    raise RuntimeError(
        f"ONELOOP_TEST_DB must be postgresql, sqlite or mysql, not {DB!r}"
    )


def _postgis_missing() -> str | None:
    """Why the ``postgis`` alias cannot be made (``None`` when it can): the
    GeoDjango ENGINE loads GDAL and GEOS, and its test database needs the
    server's PostGIS extension."""
    import psycopg

    hint = "install them with scripts/setup.sh (as root) or .ci/run"
    libraries = [lib for lib in ("gdal", "geos_c") if not ctypes.util.find_library(lib)]
    if libraries:
        return f"GeoDjango needs the {' and '.join(libraries)} libraries: {hint}"
    try:
        with psycopg.connect(
            host=PG_HOST,
            port=PG_PORT,
            user=PG_USER,
            dbname="postgres",
            connect_timeout=5,
        ) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
    except psycopg.OperationalError as exc:
        return f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT} ({exc})"
    if not found:
        return f"the PostgreSQL server has no PostGIS extension: {hint}"
    return None


POSTGIS_MISSING = _postgis_missing() if DB == "postgresql" else "postgresql-only"
if not POSTGIS_MISSING:
    # Its own test database: Django's PostGIS backend creates the extension
    # there.
    DATABASES["postgis"] = {
        **DATABASES["default"],
        "ENGINE": "oneloop.contrib.gis.db.backends.postgis",
        "TEST": {
            "NAME": f"{DATABASES['default']['TEST']['NAME']}_postgis",
            "DEPENDENCIES": [],  # set up by itself when only it is needed
        },
    }

# The default database again, through a project's own backend that subclasses
# the oneloop ENGINE (tests/custom_backend).
DATABASES["custom"] = {
    **DATABASES["default"],
    "ENGINE": DATABASES["default"]["ENGINE"].replace(
        "oneloop.db.backends.", "tests.custom_backend."
    ),
    "TEST": {"MIRROR": "default"},
}

# An in-memory SQLite database: one connection shared by every task.
DATABASES["memory"] = {"ENGINE": "oneloop.db.backends.sqlite3", "NAME": ":memory:"}

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.testapp.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
