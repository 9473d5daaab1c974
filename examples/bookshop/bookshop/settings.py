"""Settings of the bookshop demo.

By default everything is embedded: oneloop's SQLite ENGINE on ``db.sqlite3``
next to ``manage.py`` (``BOOKSHOP_SQLITE`` to move it), Django's local-memory
cache, and an email backend that keeps sent mail in the database so the
``/outbox/`` page can show it.

Set ``DATABASE_URL`` (``postgres://user:password@host:port/name``, or
``mysql://…`` for MySQL/MariaDB) to use that database through oneloop's
ENGINE, ``DATABASE_REPLICA_URL`` to send reads
to a replica (default: the same server, through a second alias), and
``REDIS_URL`` (``redis://host:port/db``) for oneloop's Redis cache and the
Redis channel layer.

``BOOKSHOP_STOCK=1`` runs the same project as stock Django would (no
``oneloop`` app, Django's own ENGINEs): ``demo.py --load`` uses it for the
side-by-side comparison.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import django

BASE_DIR = Path(__file__).resolve().parent.parent
STOCK = os.environ.get("BOOKSHOP_STOCK") == "1"

SECRET_KEY = os.environ.get("BOOKSHOP_SECRET_KEY", "bookshop-demo-not-secret")
DEBUG = os.environ.get("BOOKSHOP_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "bookshop.urls"
ASGI_APPLICATION = "bookshop.asgi.application"
STATIC_URL = "/static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "book-list"
LOGOUT_REDIRECT_URL = "book-list"
# The demo's users have throw-away passwords; a fast hasher keeps logins quick.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "oneloop",
    "shop",
]
if STOCK:
    INSTALLED_APPS.remove("oneloop")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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


def database_from_url(url: str, application_name: str) -> dict[str, Any]:
    """A ``DATABASES`` entry for a ``postgres://`` or ``mysql://`` URL."""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        vendor = "postgresql"
        options: dict[str, Any] = {"application_name": application_name}
    elif parts.scheme in ("mysql", "mariadb"):
        vendor = "mysql"
        options = {"charset": "utf8mb4"}
    else:
        raise ValueError(
            f"DATABASE_URL must start with postgres:// or mysql://, not {url!r}"
        )
    pool = {
        "min_size": 1,
        "max_size": int(os.environ.get("BOOKSHOP_POOL_MAX", "10")),
        "timeout": 10,
    }
    if not (STOCK and vendor == "mysql"):  # Django's MySQL backend has no pool
        options["pool"] = pool
    return {
        "ENGINE": f"{'django' if STOCK else 'oneloop'}.db.backends.{vendor}",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
    }


if os.environ.get("DATABASE_URL"):
    DATABASES = {
        "default": database_from_url(os.environ["DATABASE_URL"], "bookshop"),
        "replica": database_from_url(
            os.environ.get("DATABASE_REPLICA_URL", os.environ["DATABASE_URL"]),
            "bookshop-replica",
        ),
    }
else:
    _sqlite = {
        "ENGINE": "django.db.backends.sqlite3"
        if STOCK
        else "oneloop.db.backends.sqlite3",
        "NAME": os.environ.get("BOOKSHOP_SQLITE", str(BASE_DIR / "db.sqlite3")),
        # Wait for a concurrent writer instead of failing at once.
        "OPTIONS": {"timeout": 20},
    }
    DATABASES = {"default": _sqlite, "replica": dict(_sqlite)}
# Tests of this project reuse the primary's database for the replica alias.
DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["bookshop.routers.PrimaryReplicaRouter"]

if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": (
                "django.core.cache.backends.redis.RedisCache"
                if STOCK
                else "oneloop.cache.backends.redis.RedisCache"
            ),
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": "bookshop",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The live book page sends new reviews through the channel layer: Redis
# when REDIS_URL is set (it reaches every worker), else in-memory (one
# worker process).
if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]], "prefix": "bookshop"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Sent mail is stored in the database and shown on /outbox/. In production,
# use oneloop's SMTP backend: "oneloop.mail.backends.smtp.EmailBackend".
# Django 6.1 configures email with MAILERS (EMAIL_BACKEND is deprecated there).
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "shop.mail.OutboxEmailBackend"}}
else:
    EMAIL_BACKEND = "shop.mail.OutboxEmailBackend"
DEFAULT_FROM_EMAIL = "shop@bookshop.example"
SHOP_STAFF_EMAIL = "staff@bookshop.example"

ONELOOP = {"SYNC_VIEWS": "greenlet", "BLOCK_WARN_MS": 100}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR"},
        "oneloop": {"handlers": ["console"], "level": "WARNING"},
        "shop": {"handlers": ["console"], "level": "INFO"},
    },
}
