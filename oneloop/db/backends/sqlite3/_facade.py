"""A sync DB-API face on a ``sqlite3`` connection owned by its own thread.

sqlite3 has no async driver: its calls block on disk. Inside a bridge each
call is handed to the connection's dedicated thread and the bridge greenlet
awaits the result, so the loop keeps running. One thread per connection keeps
sqlite3's rule that a connection is used by one thread at a time.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from oneloop.bridge import await_, in_bridge


class SQLiteThread:
    """The one thread that runs every call of one sqlite3 connection."""

    __slots__ = ("_executor",)

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="oneloop-sqlite")

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` in the thread; the bridge greenlet waits, the loop runs.

        Outside a bridge (a wrapper shared with another thread, as Django
        allows with ``inc_thread_sharing()``) ``await_`` decides: a thread
        with no loop waits, a loop's own thread gets ``MissingBridge``, and
        then ``fn`` never ran."""
        if in_bridge():
            return await_(
                asyncio.wrap_future(self._executor.submit(fn, *args, **kwargs))
            )
        return await_(self._run(fn, *args, **kwargs))

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.wrap_future(self._executor.submit(fn, *args, **kwargs))

    def stop(self) -> None:
        self._executor.shutdown(wait=False)


class ConnectionFacade:
    """What Django's sqlite3 backend holds as ``self.connection`` in a bridge."""

    __slots__ = ("_conn", "_thread")

    def __init__(self, conn: Any, thread: SQLiteThread) -> None:
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_thread", thread)

    @property
    def sqlite_connection(self) -> Any:
        """The ``sqlite3.Connection`` underneath."""
        return self._conn

    def cursor(self, factory: Any = None) -> CursorFacade:
        raw = self._conn.cursor(factory) if factory else self._conn.cursor()
        return CursorFacade(raw, self._thread)

    def close(self) -> None:
        try:
            self._thread.call(self._conn.close)
        finally:
            self._thread.stop()

    def discard(self) -> None:
        """Close without the loop (it is shutting down, or gone, or the
        clean-up was cut short): sqlite3 lets another thread close the
        connection, as Django opens it with ``check_same_thread=False``.
        Never through the thread's queue: this also runs from garbage
        collection, which may interrupt a ``submit()`` holding its lock."""
        try:
            self._conn.close()
        finally:
            self._thread.stop()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._conn, name)
        if callable(attr):
            return functools.partial(self._thread.call, attr)
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        # Setting isolation_level may COMMIT: it is IO too.
        self._thread.call(setattr, self._conn, name, value)


class CursorFacade:
    """A sqlite3 cursor whose calls run in the connection's thread."""

    __slots__ = ("_cur", "_thread")

    def __init__(self, cursor: Any, thread: SQLiteThread) -> None:
        object.__setattr__(self, "_cur", cursor)
        object.__setattr__(self, "_thread", thread)

    def execute(self, query: str, params: Any = None) -> CursorFacade:
        if params is None:
            self._thread.call(self._cur.execute, query)
        else:
            self._thread.call(self._cur.execute, query, params)
        return self

    def executemany(self, query: str, param_list: Any) -> CursorFacade:
        self._thread.call(self._cur.executemany, query, param_list)
        return self

    def fetchone(self) -> Any:
        return self._thread.call(self._cur.fetchone)

    def fetchmany(self, size: int | None = None) -> list[Any]:
        if size is None:
            return self._thread.call(self._cur.fetchmany)
        return self._thread.call(self._cur.fetchmany, size)

    def fetchall(self) -> list[Any]:
        return self._thread.call(self._cur.fetchall)

    def close(self) -> None:
        self._thread.call(self._cur.close)

    def __iter__(self) -> Iterator[Any]:
        while rows := self.fetchmany(100):
            yield from rows

    def __enter__(self) -> CursorFacade:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._cur, name)
        if callable(attr):
            return functools.partial(self._thread.call, attr)
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._cur, name, value)
