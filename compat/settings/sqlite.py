"""Django's test suite on oneloop's sqlite ENGINE."""

from compat.settings.base import *  # noqa: F403
from compat.settings.base import sqlite_databases

DATABASES = sqlite_databases("oneloop.db.backends.sqlite3")
