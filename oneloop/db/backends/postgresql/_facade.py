"""A sync DB-API face on psycopg's ``AsyncConnection``.

Django's backend calls ``connection.cursor()``, ``cursor.execute()``,
``connection.commit()`` … synchronously. Inside a bridge these objects answer
those calls by awaiting the async driver through ``await_`` — mostly one line
each, never a copy of Django's logic.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql.base import Cursor, CursorMixin, ServerBindingCursor
from psycopg import AsyncClientCursor, AsyncCursor, AsyncServerCursor
from psycopg.client_cursor import ClientCursorMixin
from psycopg.pq import TransactionStatus

from oneloop.bridge import await_


class AsyncClientSideCursor(CursorMixin, AsyncClientCursor):
    """Async twin of Django's ``Cursor`` (client-side parameter binding)."""


class AsyncServerBindingCursor(CursorMixin, AsyncCursor):
    """Async twin of Django's ``ServerBindingCursor``."""


class AsyncServerSideCursor(CursorMixin, ClientCursorMixin, AsyncServerCursor):
    """Async twin of Django's ``ServerSideCursor``: a named (server-side)
    cursor that binds parameters on the client, as the ORM needs."""


# Django's sync cursor classes <-> their async twins.
_ASYNC_TWINS = {
    Cursor: AsyncClientSideCursor,
    ServerBindingCursor: AsyncServerBindingCursor,
}
_SYNC_TWINS = {twin: cls for cls, twin in _ASYNC_TWINS.items()}


def async_cursor_factory(cursor_factory: type) -> type:
    """The async cursor class that does the work of ``cursor_factory`` (what
    Django's backend configured) on psycopg's ``AsyncConnection``."""
    if cursor_factory in _ASYNC_TWINS:
        return _ASYNC_TWINS[cursor_factory]
    if issubclass(cursor_factory, AsyncCursor):
        return cursor_factory
    raise ImproperlyConfigured(
        f"OPTIONS['cursor_factory'] is {cursor_factory.__qualname__}, a sync "
        "cursor class. Inside a bridge the PostgreSQL ENGINE talks to "
        "psycopg's AsyncConnection, which cannot run it. Use Django's own "
        "cursors (OPTIONS['server_side_binding'] picks between them), or an "
        "async cursor class (a subclass of psycopg.AsyncCursor)."
    )


def _blocking(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return await_(method(*args, **kwargs))

    return call


class ConnectionFacade:
    """What Django's backend holds as ``self.connection`` inside a bridge."""

    __slots__ = ("_aconn", "_pool")

    def __init__(self, aconn: Any, pool: Any) -> None:
        object.__setattr__(self, "_aconn", aconn)
        # Django's backend returns the connection with ``connection._pool``.
        object.__setattr__(self, "_pool", pool)

    @property
    def async_connection(self) -> Any:
        """The psycopg ``AsyncConnection`` underneath."""
        return self._aconn

    def cursor(self, *args: Any, **kwargs: Any) -> CursorFacade:
        return CursorFacade(self._aconn.cursor(*args, **kwargs), self)

    def commit(self) -> None:
        await_(self._aconn.commit())

    def rollback(self) -> None:
        await_(self._aconn.rollback())

    def close(self) -> None:
        await_(self._aconn.close())

    def discard(self) -> None:
        """Close the socket without a round trip (no loop left to wait on)."""
        self._aconn.pgconn.finish()

    @property
    def in_transaction(self) -> bool:
        return self._aconn.info.transaction_status != TransactionStatus.IDLE

    @property
    def cursor_factory(self) -> type:
        """The class Django configured (its sync ``Cursor`` or
        ``ServerBindingCursor``); its async twin does the work."""
        factory = self._aconn.cursor_factory
        return _SYNC_TWINS.get(factory, factory)

    @cursor_factory.setter
    def cursor_factory(self, value: type) -> None:
        self._aconn.cursor_factory = async_cursor_factory(value)

    # psycopg's async connection makes these settable only through coroutines.
    @property
    def autocommit(self) -> bool:
        return self._aconn.autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        if self._aconn.autocommit != bool(value):
            await_(self._aconn.set_autocommit(value))

    @property
    def isolation_level(self) -> Any:
        return self._aconn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        await_(self._aconn.set_isolation_level(value))

    @property
    def read_only(self) -> bool | None:
        return self._aconn.read_only

    @read_only.setter
    def read_only(self, value: bool | None) -> None:
        await_(self._aconn.set_read_only(value))

    @property
    def deferrable(self) -> bool | None:
        return self._aconn.deferrable

    @deferrable.setter
    def deferrable(self, value: bool | None) -> None:
        await_(self._aconn.set_deferrable(value))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._aconn, name)
        if inspect.iscoroutinefunction(attr):
            return _blocking(attr)
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)  # the setters above
        else:
            setattr(self._aconn, name, value)

    def __repr__(self) -> str:
        return f"<oneloop ConnectionFacade of {self._aconn!r}>"


class CursorFacade:
    """A psycopg async cursor answering Django's sync cursor calls."""

    __slots__ = ("_cur", "connection")

    def __init__(self, cursor: Any, connection: ConnectionFacade) -> None:
        object.__setattr__(self, "_cur", cursor)
        object.__setattr__(self, "connection", connection)

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> CursorFacade:
        await_(self._cur.execute(query, params, **kwargs))
        return self

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        await_(self._cur.executemany(query, params_seq, **kwargs))

    def fetchone(self) -> Any:
        return await_(self._cur.fetchone())

    def fetchmany(self, size: int = 0) -> list[Any]:
        return await_(self._cur.fetchmany(size))

    def fetchall(self) -> list[Any]:
        return await_(self._cur.fetchall())

    def scroll(self, value: int, mode: str = "relative") -> None:
        await_(self._cur.scroll(value, mode))

    def close(self) -> None:
        await_(self._cur.close())

    def callproc(self, name: Any, args: Any = None) -> Any:
        # Django's CursorMixin.callproc, run against this sync face.
        return CursorMixin.callproc(self, name, args)

    def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> _CopyFacade:
        return _CopyFacade(self._cur.copy(statement, params, **kwargs))

    def stream(self, query: Any, params: Any = None, **kwargs: Any) -> Iterator[Any]:
        rows = self._cur.stream(query, params, **kwargs)
        try:
            while True:
                try:
                    yield await_(rows.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            await_(rows.aclose())

    def __iter__(self) -> Iterator[Any]:
        while True:
            rows = self.fetchmany(100)
            if not rows:
                return
            yield from rows

    def __enter__(self) -> CursorFacade:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._cur, name)
        if inspect.iscoroutinefunction(attr):
            return _blocking(attr)
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._cur, name, value)


class _CopyFacade:
    """``with cursor.copy(...) as copy:`` over psycopg's ``AsyncCopy``."""

    __slots__ = ("_copy", "_manager")

    def __init__(self, manager: Any) -> None:
        self._manager = manager
        self._copy: Any = None

    def __enter__(self) -> _CopyFacade:
        self._copy = await_(self._manager.__aenter__())
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        return await_(self._manager.__aexit__(*exc_info))

    def __iter__(self) -> Iterator[bytes]:
        while data := self.read():
            yield data

    def rows(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.read_row()) is not None:
            yield row

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._copy, name)
        if inspect.iscoroutinefunction(attr):
            return _blocking(attr)
        return attr
