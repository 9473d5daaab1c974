"""The project's backend on ``oneloop.db.backends.postgresql``."""

from oneloop.db.backends.postgresql import base
from tests.custom_backend import CountingCursors


class DatabaseWrapper(CountingCursors, base.DatabaseWrapper):
    pass
