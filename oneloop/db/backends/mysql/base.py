"""MySQL/MariaDB ENGINE: Django's backend, with asyncmy in a bridge.

With no loop running this is Django's own MySQL backend, mysqlclient and
all, at stock speed. Inside a bridge greenlet the connection comes from a
pool of asyncmy connections (one pool per alias per event loop, sized by
``OPTIONS["pool"]``) and every driver call is awaited on the loop.

A MySQL connection interrupted mid-query is out of step with the server,
which goes on running the query. So a connection whose call was cancelled
never goes back to the pool: its server session is ended with ``KILL`` from
the pool's own spare connection (stopping the query and rolling back its
transaction) and the connection is closed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from typing import Any

import MySQLdb
from asyncmy import errors as driver_errors
from asyncmy.connection import Connection
from asyncmy.constants import ER
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.mysql import base as django_mysql
from django.utils.functional import cached_property

from oneloop.bridge import await_, in_bridge, shielded
from oneloop.db.backends._commit import ShieldedCommit
from oneloop.db.backends._pools import (
    PoolLifecycle,
    close_alias_pools,
    closed_message,
    loop_pool,
    timeout_message,
)

from ._facade import ConnectionFacade, connect, connect_kwargs
from .features import DatabaseFeatures

__all__ = ["DatabaseWrapper", "PoolClosed", "PoolTimeout"]

logger = logging.getLogger("oneloop.db")

POOL_OPTIONS = frozenset({"min_size", "max_size", "timeout"})

# Django's ``mysql_server_data`` of each server, read once per process in
# bridges: where and how it connects -> the data.
_SERVER_DATA: dict[str, dict[str, Any]] = {}


def _server_key(settings_dict: dict[str, Any]) -> str:
    """What the server data depends on: the server, the user and the session
    options; not the database name, which the test runner changes."""
    where = [settings_dict.get(key) for key in ("HOST", "PORT", "USER", "OPTIONS")]
    return repr(where)


class PoolTimeout(MySQLdb.OperationalError):
    """No connection came free in time (Django raises it as its
    ``OperationalError``)."""


class PoolClosed(MySQLdb.OperationalError):
    """The pool was closed."""


class MySQLPool(PoolLifecycle):
    """asyncmy connections for one alias on one loop.

    At most ``max_size`` connections (plus one spare, opened on the first
    cancellation, that kills the server sessions of cancelled connections);
    ``min_size`` of them are opened with the pool. A connection goes back
    rolled back and in autocommit mode; with ``CONN_HEALTH_CHECKS`` an idle
    one is pinged before it is handed out.
    """

    def __init__(self, wrapper: DatabaseWrapper, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - POOL_OPTIONS)
        if unknown:
            raise ImproperlyConfigured(
                f"DATABASES[{wrapper.alias!r}]['OPTIONS']['pool'] has "
                f"{', '.join(map(repr, unknown))}, which the MySQL ENGINE's pool "
                f"does not know. Use only {', '.join(sorted(POOL_OPTIONS))}."
            )
        self.alias = wrapper.alias
        self.max_size: int = options.get("max_size", options.get("min_size", 4))
        self.min_size: int = options.get("min_size", 1)
        self.timeout: float = options.get("timeout", 30.0)
        self.health_checks = bool(wrapper.settings_dict.get("CONN_HEALTH_CHECKS"))
        self.kwargs = connect_kwargs(self.alias, wrapper.get_connection_params())
        self.kwargs["autocommit"] = True  # Django sets it again, as it needs
        self._idle: list[Connection] = []
        self._size = 0  # connections open, opening or being killed
        # Tasks waiting for a connection, longest waiting first; each is
        # handed a connection, or None for a place to open one in.
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
        self._closed = False
        self._killer: Connection | None = None
        self._kill_lock = asyncio.Lock()
        # Every connection the pool made, to end them without a loop.
        self._connections: weakref.WeakSet[Connection] = weakref.WeakSet()

    async def _fill(self) -> None:
        async with asyncio.timeout(self.timeout):
            while self._size < self.min_size:
                self._size += 1
                try:
                    self._idle.append(await self._connect())
                except BaseException:
                    self._size -= 1
                    raise

    async def _connect(self) -> Connection:
        aconn = await connect(self.alias, self.kwargs)
        self._connections.add(aconn)
        return aconn

    def get_stats(self) -> dict[str, int]:
        """The pool's counters, named as psycopg_pool names them."""
        return {
            "pool_min": self.min_size,
            "pool_max": self.max_size,
            "pool_size": self._size,
            "pool_available": len(self._idle),
            "requests_waiting": len(self._waiters),
        }

    def getconn(self) -> ConnectionFacade:
        return ConnectionFacade(await_(self._acquire()), self)

    async def _acquire(self) -> Connection:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            if self._closed:
                raise PoolClosed(closed_message(self.alias))
            while self._idle:
                aconn = self._idle.pop()
                try:
                    # A server that went away (restart, idle timeout) closed
                    # the socket: seen without a round trip, so no request
                    # fails on a connection that is already dead.
                    if not aconn._stream_broken and (
                        not self.health_checks or await self._alive(aconn)
                    ):
                        return aconn
                except BaseException:  # cancelled during the ping
                    self._drop(aconn)
                    raise
                self._drop(aconn)
            if self._size < self.max_size:
                self._size += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._size -= 1
                    self._wake()
                    raise
            waiter: asyncio.Future[Connection | None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    handed = await waiter
            except BaseException as exc:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    # Served, but leaving: pass the connection or turn on.
                    handed = waiter.result()
                    if handed is None:
                        self._wake()
                    else:
                        self._hand_over(handed)
                if isinstance(exc, TimeoutError):
                    raise PoolTimeout(
                        timeout_message(self.alias, self.timeout, self.max_size)
                    ) from None
                raise
            if handed is not None:
                return handed

    async def _alive(self, aconn: Connection) -> bool:
        try:
            await aconn.ping(reconnect=False)
        except driver_errors.MySQLError:
            return False
        return True

    def _wake(self) -> None:
        """Tell the longest waiting task that a place came free (to open a
        connection in, or to see the pool closed)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _hand_over(self, aconn: Connection) -> None:
        """Give a connection that came back to the longest waiting task, or
        keep it idle. Handed over directly, it cannot be taken by a task
        that arrived later, which under load left some requests waiting
        for seconds."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(aconn)
                return
        self._idle.append(aconn)

    def putconn(self, facade: ConnectionFacade) -> None:
        # Held against a second cancellation: a connection half given back
        # would be lost to the pool.
        with shielded():
            await_(self._release(facade.async_connection, facade.cancelled))

    async def _release(self, aconn: Connection, cancelled: bool) -> None:
        if cancelled:
            # Its query may still be running on the server: end the session.
            try:
                await self._kill(aconn.thread_id())
            finally:
                self._drop(aconn)
            return
        if self._closed or not aconn.connected:
            self._drop(aconn)
            return
        try:
            if aconn.get_transaction_status():
                await aconn.rollback()
            await aconn.autocommit(True)
        except Exception:  # a connection that cannot be reset is not reused
            self._drop(aconn)
            return
        self._hand_over(aconn)

    def _drop(self, aconn: Connection) -> None:
        """Close ``aconn``'s socket and free its place in the pool."""
        aconn.close()
        self._size -= 1
        self._wake()

    async def _kill(self, thread_id: int) -> None:
        async with self._kill_lock:
            self._killer = await kill_session(
                self.alias, self.kwargs, thread_id, self._killer
            )

    async def aclose(self) -> None:
        """Close the pool: idle connections now, connections in use when
        they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for aconn in idle:
            self._size -= 1
            try:
                await aconn.ensure_closed()
            except Exception:
                aconn.close()
        if self._killer is not None:
            self._killer.close()
            self._killer = None
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        await_(self.aclose())

    def discard(self) -> None:
        """Close every connection's socket without waiting on a loop."""
        self._closed = True
        for aconn in list(self._connections):
            aconn.close()
        if self._killer is not None:
            self._killer.close()


async def kill_session(
    alias: str, kwargs: dict[str, Any], thread_id: int, killer: Connection | None
) -> Connection | None:
    """End server session ``thread_id`` (its running query stops, its
    transaction rolls back) through ``killer``, a connection opened with
    ``kwargs`` when it is ``None`` or closed. Returns the connection to use
    next time (``None`` when it broke)."""
    for attempt in (1, 2):
        try:
            if killer is None or not killer.connected:
                # Of no database: KILL needs none.
                killer = await connect(alias, {**kwargs, "database": None})
            cursor = killer.cursor()
            await cursor.execute("KILL %s", (thread_id,))
            await cursor.close()
            return killer
        except (driver_errors.MySQLError, MySQLdb.MySQLError) as exc:
            # (connect() raises mysqlclient's classes, the cursor asyncmy's.)
            if exc.args and exc.args[0] == ER.NO_SUCH_THREAD:
                return killer  # it ended by itself
            if killer is not None:
                killer.close()
                killer = None
            if attempt == 2:
                logger.warning(
                    "Could not end the server session %s of a cancelled query "
                    "on database alias %r: %s",
                    thread_id,
                    alias,
                    exc,
                )
    return None


class DatabaseWrapper(ShieldedCommit, django_mysql.DatabaseWrapper):
    """Django's MySQL ``DatabaseWrapper`` that goes async in a bridge."""

    features_class = DatabaseFeatures

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        params.pop("pool", None)  # oneloop's option, not mysqlclient's
        return params

    @property
    def pool(self) -> MySQLPool | None:
        """Inside a bridge, this loop's pool for the alias (made on first
        use); ``None`` outside one, or with ``OPTIONS["pool"] = False``."""
        if not in_bridge():
            return None
        return loop_pool(self, lambda options: MySQLPool(self, options))

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        self._session_ready = False
        if not in_bridge():
            return super().get_new_connection(conn_params)
        pool = self.pool
        if pool is None:
            kwargs = connect_kwargs(self.alias, conn_params)
            return ConnectionFacade(await_(connect(self.alias, kwargs)), None)
        pool.open()
        facade = pool.getconn()
        # Django's backend sets SQL_AUTO_IS_NULL and the isolation level on
        # each new connection, one round trip. They are session settings: a
        # pooled connection keeps them, so each is set up once, as a
        # persistent connection is on the sync path, and a task (a request)
        # that takes it from the pool again pays no round trip for them;
        # only a wrapper that wants another isolation level (a copy with
        # other OPTIONS) sets it up again. (get_connection_params(), called
        # just before, read the wrapper's level.)
        self._session_ready = facade.async_connection.session_isolation == (
            self.isolation_level or ""
        )
        return facade

    _session_ready = False
    """True from a checkout of a pooled connection already set up as this
    wrapper wants until connect() calls init_connection_state() next."""

    def init_connection_state(self) -> None:
        ready, self._session_ready = self._session_ready, False
        if ready:
            return  # set up when it was opened (see get_new_connection)
        super().init_connection_state()
        connection = self.connection
        if isinstance(connection, ConnectionFacade):
            connection.async_connection.session_isolation = self.isolation_level or ""

    @cached_property
    def mysql_server_data(self) -> dict[str, Any]:
        # Django's backend reads the server's version and settings once per
        # wrapper, that is once per thread; in a bridge every task has its
        # own wrapper, so the first one's reading serves the process (forked
        # test workers inherit it, as they inherit a thread's wrapper).
        if not in_bridge():
            return super().mysql_server_data
        key = _server_key(self.settings_dict)
        data = _SERVER_DATA.get(key)
        if data is None:
            data = _SERVER_DATA[key] = super().mysql_server_data
        return data

    def _close(self) -> None:
        # Decided by the connection held, not by where close() is called.
        connection = self.connection
        if not isinstance(connection, ConnectionFacade):
            return super()._close()
        if connection.detached:
            return None  # given back already
        try:
            with self.wrap_database_errors:
                if connection._pool is not None:
                    connection._pool.putconn(connection)
                elif connection.cancelled:
                    # A connection of its own: its query may still be running.
                    thread_id = connection.thread_id()
                    connection.discard()
                    kwargs = connect_kwargs(self.alias, self.get_connection_params())
                    with shielded():
                        killer = await_(
                            kill_session(self.alias, kwargs, thread_id, None)
                        )
                    if killer is not None:
                        killer.close()
                else:
                    connection.close()
        finally:
            # Given away: the wrapper may keep the facade (Django keeps a
            # closed connection inside atomic, to refuse further use), but
            # never the connection, which another task may be using now.
            connection.detach()
        return None

    def close_pool(self) -> None:
        """Close this alias's pools on every loop (before a test database
        is dropped)."""
        close_alias_pools(self.alias)
