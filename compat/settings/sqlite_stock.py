"""Django's test suite on Django's own sqlite ENGINE: the baseline."""

from compat.settings.base import *  # noqa: F403
from compat.settings.base import sqlite_databases

DATABASES = sqlite_databases("django.db.backends.sqlite3")
