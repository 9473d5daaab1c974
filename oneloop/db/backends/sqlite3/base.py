"""SQLite ENGINE, the embedded default: Django's backend, with every sqlite3
call of a bridge run in the connection's own thread.

With no loop running this is Django's own backend. In a bridge, each task's
connection owns a thread; finished tasks leave their connection idle for the
next task of the same loop (up to ``IDLE_CONNECTIONS`` per database), so a
request does not pay for opening a file and starting a thread.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from django.db.backends.sqlite3 import base as django_sqlite

from oneloop.bridge import in_bridge
from oneloop.db.backends._commit import ShieldedCommit

from ._facade import ConnectionFacade, SQLiteThread
from .features import DatabaseFeatures

__all__ = ["DatabaseWrapper"]

IDLE_CONNECTIONS = 8

# event loop -> database name -> idle connections
_idle: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, list[ConnectionFacade]]
] = weakref.WeakKeyDictionary()


def _idle_list(name: str) -> list[ConnectionFacade]:
    loop = asyncio.get_running_loop()
    per_loop = _idle.get(loop)
    if per_loop is None:
        per_loop = _idle[loop] = {}
        # Closed when the loop goes: a sqlite3 connection left to the garbage
        # collector is never closed (Python 3.13 warns about it).
        weakref.finalize(loop, _discard_idle, per_loop)
    return per_loop.setdefault(name, [])


def _discard_idle(per_loop: dict[str, list[ConnectionFacade]]) -> None:
    for idle in per_loop.values():
        while idle:
            idle.pop().discard()


class DatabaseWrapper(ShieldedCommit, django_sqlite.DatabaseWrapper):
    """Django's SQLite ``DatabaseWrapper`` that keeps the loop free in a bridge."""

    features_class = DatabaseFeatures

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if not in_bridge():
            return super().get_new_connection(conn_params)
        idle = _idle_list(str(self.settings_dict["NAME"]))
        if idle:
            return idle.pop()
        thread = SQLiteThread()
        # Django's own connect (functions, PRAGMAs, init_command) runs in the
        # connection's thread, where no loop runs.
        conn = thread.call(super().get_new_connection, conn_params)
        return ConnectionFacade(conn, thread)

    def _close(self) -> None:
        facade = self.connection
        if not isinstance(facade, ConnectionFacade):
            super()._close()
            return
        try:
            with self.wrap_database_errors:
                if facade.in_transaction:
                    facade.rollback()
                idle = _idle_list(str(self.settings_dict["NAME"]))
                if len(idle) < IDLE_CONNECTIONS:
                    idle.append(facade)
                else:
                    facade.close()
        except BaseException:
            # Cut short (a cancellation, a failed rollback): never reused,
            # and closed now rather than left to the garbage collector.
            facade.discard()
            raise
        finally:
            # Given away: even inside atomic (where Django keeps a closed
            # connection to refuse further use) this wrapper must not keep
            # one another task may be using.
            self.connection = None
