"""Settings of the Channels project that the tests serve with real servers.

The server process reads them from the environment the test fixtures set:
``ONELOOP_CHANNELS_DB`` (``postgresql`` or ``sqlite``) and
``ONELOOP_CHANNELS_DB_NAME`` (the database the fixture created, or the SQLite
file), ``ONELOOP_CHANNELS_POOL_MAX`` (the PostgreSQL pool's ``max_size``),
``ONELOOP_CHANNELS_REDIS_URL`` and ``ONELOOP_CHANNELS_PREFIX`` (a
``channels_redis`` layer on that server under that prefix; without them the
in-memory layer), ``ONELOOP_CHANNELS_STOCK`` (see below).
"""

import os

from tests.project_settings import postgresql

SECRET_KEY = "oneloop-channels-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ROOT_URLCONF = "tests.channels.project.urls"
ASGI_APPLICATION = "tests.channels.project.asgi.application"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "channels",
    "oneloop",
    "tests.testapp",
    "tests.channels.project",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

# ONELOOP_CHANNELS_STOCK=1: the same project as stock Channels runs it (no
# oneloop app, Django's own PostgreSQL backend and pool, Django's ASGI
# handler), for bench.channels_compare.
STOCK = os.environ.get("ONELOOP_CHANNELS_STOCK") == "1"
if STOCK:
    INSTALLED_APPS.remove("oneloop")

DB = os.environ.get("ONELOOP_CHANNELS_DB", "postgresql")
if DB == "postgresql":
    DATABASES = {
        "default": postgresql(
            os.environ.get("ONELOOP_CHANNELS_DB_NAME", "oneloop_channels"),
            stock=STOCK,
            pool_max=int(os.environ.get("ONELOOP_CHANNELS_POOL_MAX", "50")),
            timeout=10,
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "oneloop.db.backends.sqlite3",
            "NAME": os.environ.get("ONELOOP_CHANNELS_DB_NAME", "channels.sqlite3"),
            "OPTIONS": {"timeout": 20},
        }
    }

if os.environ.get("ONELOOP_CHANNELS_REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [os.environ["ONELOOP_CHANNELS_REDIS_URL"]],
                "prefix": os.environ.get("ONELOOP_CHANNELS_PREFIX", "asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

ONELOOP = {"SYNC_VIEWS": "greenlet", "BLOCK_WARN_MS": 100}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
