"""The project's backend on ``oneloop.db.backends.mysql``."""

from oneloop.db.backends.mysql import base
from tests.custom_backend import CountingCursors


class DatabaseWrapper(CountingCursors, base.DatabaseWrapper):
    pass
