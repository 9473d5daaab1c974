"""Settings of the project that the ASGI tests serve with a real uvicorn.

The server process reads them from the environment the test fixture sets:
``ONELOOP_ASGI_DB_NAME`` (the PostgreSQL database the fixture created),
``ONELOOP_ASGI_SYNC_VIEWS`` (greenlet or thread), ``ONELOOP_ASGI_LOG`` (file
that receives the ``oneloop.watchdog`` warnings), ``ONELOOP_ASGI_POOL_MAX``,
``ONELOOP_ASGI_SESSION_ENGINE`` and ``ONELOOP_ASGI_REDIS_URL`` (see CACHES),
``ONELOOP_ASGI_CLIENT_NAME`` (the name the server's database and Redis
connections give themselves, so a test can find them on the servers).
"""

import os

from tests.project_settings import postgresql

SECRET_KEY = "oneloop-asgi-tests-not-secret"
DEBUG = False
USE_TZ = True
USE_I18N = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("fr", "French"),
    ("de", "German"),
    ("es", "Spanish"),
    ("it", "Italian"),
    ("nl", "Dutch"),
    ("pt", "Portuguese"),
    ("pl", "Polish"),
    ("sv", "Swedish"),
    ("da", "Danish"),
]
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ROOT_URLCONF = "tests.asgi.project.urls"
WSGI_APPLICATION = "tests.asgi.project.wsgi.application"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rest_framework",
    "oneloop",
    "tests.testapp",
    "tests.asgi.project",
]

# ONELOOP_ASGI_STOCK=1: the same project as stock Django would run it (no
# oneloop app, Django's own PostgreSQL backend with its own pool), for the
# comparisons in bench/asgi_compare.py.
STOCK = os.environ.get("ONELOOP_ASGI_STOCK") == "1"
if STOCK:
    INSTALLED_APPS.remove("oneloop")

DATABASES = {
    "default": postgresql(
        os.environ.get("ONELOOP_ASGI_DB_NAME", "test_oneloop_asgi_server"),
        stock=STOCK,
        pool_max=int(os.environ.get("ONELOOP_ASGI_POOL_MAX", "30")),
        timeout=20,
    )
}

# ONELOOP_ASGI_CLIENT_NAME: PostgreSQL's application_name and Redis's client
# name of every connection this server opens.
CLIENT_NAME = os.environ.get("ONELOOP_ASGI_CLIENT_NAME")
if CLIENT_NAME:
    DATABASES["default"]["OPTIONS"]["application_name"] = CLIENT_NAME

SESSION_ENGINE = os.environ.get(
    "ONELOOP_ASGI_SESSION_ENGINE", "django.contrib.sessions.backends.db"
)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# ONELOOP_ASGI_REDIS_URL: the default cache on oneloop's Redis backend (with
# ONELOOP_ASGI_CACHE_PREFIX as KEY_PREFIX), e.g. for cached_db sessions.
if os.environ.get("ONELOOP_ASGI_REDIS_URL"):
    CACHES["default"] = {
        "BACKEND": "oneloop.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["ONELOOP_ASGI_REDIS_URL"],
        "KEY_PREFIX": os.environ.get("ONELOOP_ASGI_CACHE_PREFIX", ""),
    }
    if CLIENT_NAME:
        CACHES["default"]["OPTIONS"] = {"client_name": CLIENT_NAME}

MIDDLEWARE = [
    "tests.asgi.project.middleware.FirstMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "tests.asgi.project.middleware.SecondMiddleware",
    "tests.asgi.project.middleware.async_only_middleware",
    "tests.asgi.project.middleware.TimezoneMiddleware",
    "tests.asgi.project.middleware.ThirdMiddleware",
]

# ONELOOP_ASGI_MIDDLEWARE=default: the middleware of a new project
# (startproject), for benchmarks that compare with WSGI.
if os.environ.get("ONELOOP_ASGI_MIDDLEWARE") == "default":
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

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

ONELOOP = {
    "SYNC_VIEWS": os.environ.get("ONELOOP_ASGI_SYNC_VIEWS", "greenlet"),
    "BLOCK_WARN_MS": 100,
}

_LOG_FILE = os.environ.get("ONELOOP_ASGI_LOG")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "watchdog": (
            {"class": "logging.FileHandler", "filename": _LOG_FILE}
            if _LOG_FILE
            else {"class": "logging.StreamHandler"}
        )
        | {"formatter": "plain"},
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        # Server errors (500) with their traceback on the server's output.
        "django.request": {"handlers": ["stderr"], "level": "ERROR"},
        "oneloop.watchdog": {
            "handlers": ["watchdog"],
            "level": "WARNING",
            "propagate": False,
        },
    },
}
