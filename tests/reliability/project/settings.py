"""Settings of the small project the reliability tests and ``bench/soak.py``
serve with a real uvicorn.

The server process reads its database and pool from the environment the
fixture (or the soak command) sets: ``ONELOOP_REL_DB_NAME``,
``ONELOOP_REL_PG_HOST``, ``ONELOOP_REL_PG_PORT``, ``ONELOOP_REL_PG_USER``,
``ONELOOP_REL_POOL_MAX`` and ``ONELOOP_REL_POOL_TIMEOUT`` (seconds).
"""

import os

SECRET_KEY = "oneloop-reliability-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "tests.reliability.project.urls"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "oneloop",
    "tests.testapp",
]

DATABASES = {
    "default": {
        "ENGINE": "oneloop.db.backends.postgresql",
        "NAME": os.environ.get("ONELOOP_REL_DB_NAME", "test_oneloop_reliability"),
        "USER": os.environ.get("ONELOOP_REL_PG_USER", "postgres"),
        "HOST": os.environ.get("ONELOOP_REL_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("ONELOOP_REL_PG_PORT", "5432"),
        "OPTIONS": {
            "pool": {
                "min_size": 1,
                "max_size": int(os.environ.get("ONELOOP_REL_POOL_MAX", "20")),
                "timeout": float(os.environ.get("ONELOOP_REL_POOL_TIMEOUT", "5")),
            }
        },
    }
}

SESSION_ENGINE = "django.contrib.sessions.backends.db"
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
]
# Small enough that the bad-input tests reach the limits quickly.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

ONELOOP = {"SYNC_VIEWS": "greenlet", "BLOCK_WARN_MS": 500}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        # A 500 leaves its traceback in the server's output, which the tests
        # read to name the exception class.
        "django.request": {"handlers": ["stderr"], "level": "ERROR"},
        "oneloop": {"handlers": ["stderr"], "level": "WARNING"},
    },
}
