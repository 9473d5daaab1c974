"""A sync, MySQLdb-like DB-API face on asyncmy's async connection.

Django's MySQL backend calls ``connection.cursor()``, ``cursor.execute()``,
``connection.autocommit(True)`` … synchronously and expects what mysqlclient
(``MySQLdb``) gives: its exception classes, its conversions. Inside a bridge
these objects answer those calls by awaiting asyncmy through ``await_``, one
line each, and translate what differs:

* errors: asyncmy's exceptions become the ``MySQLdb`` classes mysqlclient
  raises for the same error number, so Django's ``wrap_database_errors`` and
  its ``CursorWrapper`` turn them into Django's ``IntegrityError``,
  ``OperationalError``, ``DataError`` … exactly as on the sync path;
* conversions: asyncmy's decoders (PyMySQL's) with ``TIME`` read as a
  ``datetime.time``, as Django's backend configures mysqlclient; literals
  that Django quotes itself (``connection.escape()``, for the schema editor)
  are mysqlclient's own, and so are the literals of query parameters:
  ``bytes`` without asyncmy's ``_binary`` prefix (Django writes
  ``_binary %s`` itself for binary fields);
* closing: a connection given back to its pool leaves the facade acting as a
  closed mysqlclient connection (every call raises ``OperationalError``
  2006), so a wrapper that still holds it refuses to use it, as with
  mysqlclient, and never reaches a connection another task now has.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import MySQLdb
import MySQLdb._mysql
import MySQLdb.converters
from asyncmy import errors as driver_errors
from asyncmy.connection import Connection
from asyncmy.constants import CR, ER, FIELD_TYPE
from asyncmy.converters import conversions
from django.core.exceptions import ImproperlyConfigured
from django.db.backends import utils as backend_utils

from oneloop.bridge import await_

T = TypeVar("T")

# What Django's backend sets mysqlclient's ``conv`` to, in asyncmy's terms.
DJANGO_CONVERSIONS = {**conversions, FIELD_TYPE.TIME: backend_utils.typecast_time}

# The encoders of a mysqlclient connection opened by Django's backend (its
# ``encoders``: the type keys of the ``conv`` it passes).
MYSQLDB_ENCODERS = {
    key: value
    for key, value in MySQLdb.converters.conversions.items()
    if type(key) is not int
}

# mysqlclient's own choice of exception class per error number (its
# ``_mysql_Exception``); any other number is an OperationalError (1000 and
# up) or an InternalError (below 1000), and 0 an InterfaceError.
_CLASS_OF_ERRNO: dict[int, type[MySQLdb.Error]] = {
    **dict.fromkeys(
        (
            CR.CR_COMMANDS_OUT_OF_SYNC,
            ER.DB_CREATE_EXISTS,
            ER.SYNTAX_ERROR,
            ER.PARSE_ERROR,
            ER.NO_SUCH_TABLE,
            ER.WRONG_DB_NAME,
            ER.WRONG_TABLE_NAME,
            ER.FIELD_SPECIFIED_TWICE,
            ER.INVALID_GROUP_FUNC_USE,
            ER.UNSUPPORTED_EXTENSION,
            ER.TABLE_MUST_HAVE_COLUMNS,
            ER.CANT_DO_THIS_DURING_AN_TRANSACTION,
        ),
        MySQLdb.ProgrammingError,
    ),
    **dict.fromkeys(
        (
            ER.WARN_DATA_TRUNCATED,
            ER.WARN_NULL_TO_NOTNULL,
            ER.WARN_DATA_OUT_OF_RANGE,
            ER.NO_DEFAULT,
            ER.PRIMARY_CANT_HAVE_NULL,
            ER.DATA_TOO_LONG,
            ER.DATETIME_FUNCTION_OVERFLOW,
        ),
        MySQLdb.DataError,
    ),
    **dict.fromkeys(
        (
            ER.DUP_ENTRY,
            ER.DUP_UNIQUE,
            ER.NO_REFERENCED_ROW,
            ER.NO_REFERENCED_ROW_2,
            ER.ROW_IS_REFERENCED,
            ER.ROW_IS_REFERENCED_2,
            ER.CANNOT_ADD_FOREIGN,
            ER.NO_DEFAULT_FOR_FIELD,
            ER.BAD_NULL_ERROR,
        ),
        MySQLdb.IntegrityError,
    ),
    **dict.fromkeys(
        (
            ER.WARNING_NOT_COMPLETE_ROLLBACK,
            ER.NOT_SUPPORTED_YET,
            ER.FEATURE_DISABLED,
            ER.UNKNOWN_STORAGE_ENGINE,
        ),
        MySQLdb.NotSupportedError,
    ),
}

# Connection attempts that failed for a reason the settings can fix.
_CONNECT_FIXES = {
    ER.ACCESS_DENIED_ERROR: "check its USER and PASSWORD",
    ER.DBACCESS_DENIED_ERROR: "check its USER, or grant that user the database",
    ER.BAD_DB_ERROR: "create the database, or correct its NAME",
    CR.CR_CONN_HOST_ERROR: "start the server, or correct its HOST and PORT",
    CR.CR_CONNECTION_ERROR: "start the server, or correct its HOST (socket)",
    CR.CR_UNKNOWN_HOST: "correct its HOST",
}


def translate(exc: driver_errors.MySQLError) -> MySQLdb.MySQLError:
    """The ``MySQLdb`` exception mysqlclient raises for ``exc``."""
    errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if errno:
        cls = _CLASS_OF_ERRNO.get(errno) or (
            MySQLdb.OperationalError if errno >= 1000 else MySQLdb.InternalError
        )
    else:  # raised by the driver itself: the class of the same name
        cls = getattr(MySQLdb, type(exc).__name__, MySQLdb.Error)
    return cls(*exc.args)


def connect_kwargs(alias: str, params: dict[str, Any]) -> dict[str, Any]:
    """asyncmy's ``Connection`` arguments for Django's mysqlclient ``params``.

    Django's ``conv`` (mysqlclient's converters) becomes its asyncmy
    equivalent; ``db``/``passwd`` are mysqlclient's old names. An option
    asyncmy does not have is an error naming it, not a silent difference.
    """
    kwargs = {**params, "conv": DJANGO_CONVERSIONS}
    for old, new in (("db", "database"), ("passwd", "password")):
        if old in kwargs:
            kwargs[new] = kwargs.pop(old)
    unknown = sorted(set(kwargs) - _ASYNCMY_ARGUMENTS)
    if unknown:
        raise ImproperlyConfigured(
            f"DATABASES[{alias!r}]['OPTIONS'] has {', '.join(map(repr, unknown))}, "
            "which the MySQL ENGINE's async driver (asyncmy) does not know. "
            "Remove it, or use one of: "
            f"{', '.join(sorted(_ASYNCMY_ARGUMENTS - {'conv'}))}."
        )
    return kwargs


_ASYNCMY_ARGUMENTS = set(inspect.signature(Connection.__init__).parameters) - {
    "self",
    "cursor_cls",
    "password_creator",
    "query_callback",
}


class DriverConnection(Connection):
    """asyncmy's connection, quoting query parameters as mysqlclient does.

    asyncmy always writes ``bytes`` as ``_binary'…'``; mysqlclient (without
    its ``binary_prefix`` option, which Django does not set) writes
    ``'…'``, and Django's backend adds the prefix where it wants it: its
    placeholder for a binary field is ``_binary %s``, which with asyncmy's
    literal became ``_binary _binary'…'``, a syntax error.
    """

    session_isolation: str | None = None
    """The isolation level Django's backend set up this connection's session
    with (``init_connection_state``; ``""`` for none), ``None`` before that.
    The session settings last as long as the connection, so a pooled one is
    set up again only by a wrapper that wants another level."""

    def escape(self, obj: Any, mapping: Any = None) -> str:
        if isinstance(obj, bytes | bytearray):
            # asyncmy's own quoting of bytes, unprefixed.
            return self._quote_bytes(bytes(obj))
        return super().escape(obj, mapping)


async def connect(alias: str, kwargs: dict[str, Any]) -> Connection:
    """A new asyncmy connection; an error that the settings can fix says
    which alias and what to change. A cancelled attempt leaves no socket."""
    aconn = DriverConnection(**kwargs)
    try:
        await aconn.connect()
    except driver_errors.MySQLError as exc:
        aconn.close()
        error = translate(exc)
        fix = _CONNECT_FIXES.get(error.args[0] if error.args else None)
        if fix is None:
            raise error from exc
        where = f"{kwargs.get('host') or kwargs.get('unix_socket')}"
        if kwargs.get("port"):
            where += f":{kwargs['port']}"
        raise type(error)(
            error.args[0],
            f"{error.args[1]} (database alias {alias!r}, server {where}, user "
            f"{kwargs.get('user')!r}, database {kwargs.get('database')!r}): "
            f"{fix} in DATABASES[{alias!r}].",
        ) from exc
    except BaseException:
        aconn.close()
        raise
    return aconn


class ConnectionFacade:
    """What Django's backend holds as ``self.connection`` inside a bridge.

    Calls are serialized by a lock: child tasks inside ``atomic`` share their
    parent's connection, and a MySQL connection runs one command at a time.
    ``cancelled`` records that a call was cancelled mid-flight: the server
    may still be running it and the stream is out of step, so the pool never
    reuses such a connection (it kills its server session instead). Once
    ``detach()`` has handed the asyncmy connection back, the facade acts as
    a closed mysqlclient connection.
    """

    __slots__ = ("_aconn", "_lock", "_pool", "cancelled")

    def __init__(self, aconn: Connection, pool: Any) -> None:
        self._aconn = aconn
        self._pool = pool
        self._lock = asyncio.Lock()
        self.cancelled = False

    @property
    def async_connection(self) -> Connection:
        """The asyncmy ``Connection`` underneath."""
        return self._aconn

    @property
    def detached(self) -> bool:
        """True once the asyncmy connection was handed back (``detach()``)."""
        return self._aconn is _CLOSED

    def detach(self) -> None:
        """Let go of the asyncmy connection (given back to its pool, or
        closed): from now on every call fails as on a closed mysqlclient
        connection."""
        self._aconn = _CLOSED

    def io(self, awaitable: Coroutine[Any, Any, T]) -> T:
        """Await one driver call, with mysqlclient's exceptions."""
        try:
            return await_(self._serialized(awaitable))
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        except driver_errors.MySQLError as exc:
            raise translate(exc) from exc
        finally:
            # A call cancelled before it started was never awaited: close it
            # (a no-op for one that ran).
            awaitable.close()

    def at_once(self, awaitable: Coroutine[Any, Any, T]) -> T:
        """Run a driver call that needs no IO to its end here, with
        mysqlclient's exceptions. asyncmy's (buffered) cursor reads the
        whole result in ``execute()``, as mysqlclient's does; its fetch
        methods are coroutines for the API's sake and only hand out rows
        from memory. Run here, each saves a round trip through the loop
        (two greenlet switches and a step of the task)."""
        try:
            awaitable.send(None)
        except StopIteration as done:
            return done.value
        except driver_errors.MySQLError as exc:
            raise translate(exc) from exc
        awaitable.close()
        raise RuntimeError(
            f"asyncmy's {awaitable.__qualname__}() waited for IO where the "
            "asyncmy versions oneloop is tested with read rows already in "
            "memory. Install the asyncmy version of oneloop's [mysql] extra "
            "that CI tests, and report this one."
        )

    async def _serialized(self, awaitable: Coroutine[Any, Any, T]) -> T:
        async with self._lock:
            return await awaitable

    def cursor(self) -> CursorFacade:
        return CursorFacade(self._aconn.cursor(), self)

    def commit(self) -> None:
        self.io(self._aconn.commit())

    def rollback(self) -> None:
        self.io(self._aconn.rollback())

    def autocommit(self, on: bool) -> None:
        if self._aconn.get_autocommit() == on:
            # Already so (Django sets it on every checkout of a connection
            # the pool gave back in autocommit): asyncmy sends nothing, so
            # no round trip through the loop either.
            self.at_once(self._aconn.autocommit(on))
        else:
            self.io(self._aconn.autocommit(on))

    def get_autocommit(self) -> bool:
        return self._aconn.get_autocommit()

    def ping(self) -> None:
        self.io(self._aconn.ping(reconnect=False))

    def close(self) -> None:
        self.io(self._aconn.ensure_closed())

    def discard(self) -> None:
        """Close the socket without a round trip (no loop left to wait on)."""
        self._aconn.close()

    def thread_id(self) -> int:
        return self._aconn.thread_id()

    def escape(self, value: Any, mapping: Any) -> bytes | str:
        """The SQL literal mysqlclient's ``escape()`` makes of ``value``
        (Django's schema editor quotes defaults with it), by mysqlclient's
        own function: a ``str`` is encoded in the connection's charset and
        escaped byte by byte, which is what mysqlclient's connection does
        for the charsets Django uses (utf8, utf8mb4, latin1)."""
        if isinstance(value, str):
            value = value.encode(self._aconn._encoding)
        return MySQLdb._mysql.escape(value, mapping)

    @property
    def encoders(self) -> dict[type, Any]:
        return MYSQLDB_ENCODERS

    @property
    def open(self) -> bool:
        return self._aconn.connected

    @property
    def in_transaction(self) -> bool:
        return bool(self._aconn.get_transaction_status())

    def __repr__(self) -> str:
        return f"<oneloop ConnectionFacade of {self._aconn!r}>"


class _ClosedConnection:
    """What a detached facade holds instead of an asyncmy connection: like a
    closed mysqlclient connection, any use raises ``OperationalError``
    (2006, server gone); closing it again does nothing."""

    __slots__ = ()
    connected = False

    def __getattr__(self, name: str) -> Any:
        raise MySQLdb.OperationalError(CR.CR_SERVER_GONE_ERROR, "")

    def close(self) -> None:
        pass


_CLOSED: Any = _ClosedConnection()


class CursorFacade:
    """An asyncmy cursor answering Django's sync (MySQLdb) cursor calls."""

    __slots__ = ("_conn", "_cur")

    def __init__(self, cursor: Any, connection: ConnectionFacade) -> None:
        self._cur = cursor
        self._conn = connection

    def execute(self, query: str, args: Any = None) -> int:
        return self._conn.io(self._cur.execute(query, args))

    def executemany(self, query: str, args: Any) -> int:
        return self._conn.io(self._cur.executemany(query, args))

    def callproc(self, procname: str, args: Any = ()) -> Any:
        return self._conn.io(self._cur.callproc(procname, args))

    def nextset(self) -> bool | None:
        return self._conn.io(self._cur.nextset())

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._conn.at_once(self._cur.fetchone())

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        return self._conn.at_once(self._cur.fetchmany(size))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._conn.at_once(self._cur.fetchall())

    def close(self) -> None:
        result = self._cur._result
        if result is not None and result.has_next:
            # More result sets (a multi-statement query): read off the server.
            self._conn.io(self._cur.close())
        else:
            self._conn.at_once(self._cur.close())

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchone, None)

    def __enter__(self) -> CursorFacade:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        # rowcount, lastrowid, description, _executed …
        return getattr(self._cur, name)
