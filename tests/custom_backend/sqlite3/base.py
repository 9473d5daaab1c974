"""The project's backend on ``oneloop.db.backends.sqlite3``."""

from oneloop.db.backends.sqlite3 import base
from tests.custom_backend import CountingCursors


class DatabaseWrapper(CountingCursors, base.DatabaseWrapper):
    pass
