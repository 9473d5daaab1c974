"""PostgreSQL ENGINE: Django's backend, with psycopg's async driver in a bridge.

Inside a bridge greenlet the connection comes from a
``psycopg_pool.AsyncConnectionPool`` (one per alias per event loop) and every
driver call is awaited on the loop. ``OPTIONS["pool"] = False`` opts out of
the pool: each connection is then opened and closed by itself, as Django does
without a pool. With no loop running this is Django's own backend, sync
psycopg and all, at stock speed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import psycopg
from django.db.backends.postgresql import base as django_pg
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format, TransactionStatus
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolClosed, PoolTimeout
from psycopg_pool.pool_async import StopWorker

from oneloop.bridge import await_, in_bridge, run_sync
from oneloop.db.backends._budget import Budget, budget_for, budget_size, release
from oneloop.db.backends._commit import ShieldedCommit
from oneloop.db.backends._pools import (
    PoolLifecycle,
    aclose_pools,
    close_alias_pools,
    closed_message,
    loop_pool,
    timeout_message,
)

from ._facade import (
    AsyncServerSideCursor,
    ConnectionFacade,
    CursorFacade,
    async_cursor_factory,
)
from .features import DatabaseFeatures

__all__ = ["DatabaseWrapper", "aclose_pools"]

logger = logging.getLogger("oneloop.db")

# Connections being handed back to their pool by BridgedPool.drop(), or
# closed for another pool of the alias by _Pool.lend().
_returning: set[asyncio.Task] = set()


class _Pool(AsyncConnectionPool):
    """psycopg's pool, with workers that stop when their task is cancelled,
    and connections counted in the alias's budget.

    psycopg's workers survive a cancellation that lands inside a connection
    attempt (the attempt is retried later). ``asyncio.run()`` cancels every
    task at shutdown and waits for all of them: a pool caught connecting
    would make it wait forever.

    The budget hooks are psycopg_pool's own steps for opening
    (``_connect``) and closing (``_close_connection``) a connection, and
    for taking one back (``_return_connection``), where a broken one is
    dropped without being closed.
    """

    budget: Budget
    loop: asyncio.AbstractEventLoop
    # Set once the pool has its min_size connections: until then it lends
    # none (what it lent it would not ask for again, and its opening waits
    # for min_size idle connections).
    ready = False

    @classmethod
    async def worker(cls, q: Any) -> None:
        task = asyncio.current_task()
        while True:
            job = await q.get()
            if isinstance(job, StopWorker):
                return
            try:
                await job.run()
            except Exception:
                logger.warning("connection pool task %s failed", job, exc_info=True)
            if task is not None and task.cancelling():
                raise asyncio.CancelledError()

    async def _connect(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        await self.budget.atake(self)
        try:
            aconn = await super()._connect(timeout)
        except BaseException:
            self.budget.give_back()
            raise
        self.budget.hold(aconn)
        return aconn

    async def _close_connection(self, aconn: Any) -> None:
        try:
            await super()._close_connection(aconn)
        finally:
            release(aconn)

    async def _return_connection(self, aconn: Any, *args: Any, **kwargs: Any) -> None:
        if aconn.pgconn.transaction_status == TransactionStatus.UNKNOWN:
            # Broken (its server went away): psycopg drops it unclosed and
            # opens a replacement, which needs this place now, not when the
            # collector finds the dead connection.
            release(aconn)
        await super()._return_connection(aconn, *args, **kwargs)

    async def retire(self, aconn: Any) -> None:
        """Close ``aconn``, taken from this pool, instead of taking it back:
        its place in the budget goes to another pool of the alias."""
        async with self._lock:
            self._nconns -= 1
        await self._close_connection(aconn)

    def lend(self) -> None:
        """From any thread: close one idle connection, if there is one, so
        its place in the budget goes to the pool that waits."""
        if self.ready and self._pool:
            try:
                self.loop.call_soon_threadsafe(self._start_lending)
            except RuntimeError:  # the loop is closed, and the pool with it
                pass

    def _start_lending(self) -> None:
        lending = self.loop.create_task(self._lend())
        _returning.add(lending)
        lending.add_done_callback(_returning.discard)

    async def _lend(self) -> None:
        async with self._lock:
            if not self._pool:
                return
            aconn = self._pool.popleft()
            self._nconns -= 1
        await self._close_connection(aconn)


class _SyncPool(ConnectionPool):
    """Django's own sync pool (``DatabaseWrapper.pool`` outside a bridge),
    with its connections counted in the alias's budget, as ``_Pool``'s are.
    Django builds it; the ENGINE turns it into this class before it opens
    (see ``DatabaseWrapper.pool``)."""

    budget: Budget

    def _connect(self, timeout: float | None = None) -> Any:
        self.budget.take(self)
        try:
            conn = super()._connect(timeout)
        except BaseException:
            self.budget.give_back()
            raise
        self.budget.hold(conn)
        return conn

    def _close_connection(self, conn: Any) -> None:
        try:
            super()._close_connection(conn)
        finally:
            release(conn)

    def _return_connection(self, conn: Any, *args: Any, **kwargs: Any) -> None:
        if conn.pgconn.transaction_status == TransactionStatus.UNKNOWN:
            release(conn)  # broken: as in _Pool._return_connection
        super()._return_connection(conn, *args, **kwargs)

    def getconn(self, timeout: float | None = None) -> Any:
        try:
            return super().getconn(timeout)
        except PoolTimeout as exc:
            raise PoolTimeout(
                timeout_message(
                    self.budget.alias,
                    self.timeout if timeout is None else timeout,
                    min(self.max_size, self.budget.size),
                    budget=True,
                )
            ) from exc

    def putconn(self, conn: Any) -> None:
        if not self.budget.others_waiting(self):
            return super().putconn(conn)
        # Another pool of the alias waits for a place: close it instead.
        self._check_pool_putconn(conn)
        with self._lock:
            self._nconns -= 1
        self._close_connection(conn)
        return None

    def lend(self) -> None:
        """From any thread: close one idle connection, if there is one, so
        its place in the budget goes to the pool that waits."""
        with self._lock:
            if not self._pool:
                return
            conn = self._pool.popleft()
            self._nconns -= 1
        self._close_connection(conn)


def _on_facade(function: Any) -> Any:
    """An async pool callback that runs ``function``, written for a sync pool
    and its sync connection, in a bridge on the async connection's facade."""

    async def callback(aconn: Any) -> None:
        await run_sync(function, ConnectionFacade(aconn, None))

    return callback


class BridgedPool(PoolLifecycle):
    """A ``psycopg_pool.AsyncConnectionPool`` answering the sync pool calls
    Django's backend makes (``open``, ``getconn``, ``putconn``, ``close``)."""

    def __init__(self, wrapper: DatabaseWrapper, options: dict[str, Any]) -> None:
        self.alias = wrapper.alias
        self.max_size = budget_size(options)
        self.timeout = options.get("timeout", 30.0)
        kwargs = wrapper.get_connection_params()
        kwargs["autocommit"] = True  # Django sets it later, as for its own pool
        kwargs["cursor_factory"] = async_cursor_factory(kwargs["cursor_factory"])
        checks = wrapper.settings_dict.get("CONN_HEALTH_CHECKS")
        check = _Pool.check_connection if checks else None
        if "check" in options:
            # Django 6.1's OPTIONS["pool"]["check"]: a function written for
            # Django's sync pool. Shown as the pool's check, as Django's pool
            # shows it; run in a bridge on each async connection's facade.
            options = {**options}  # the settings stay as they are
            self._check = options.pop("check")
            if self._check is not None:
                check = _on_facade(self._check)
        # Every connection the pool made, to close them at shutdown.
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._budget = budget_for(
            self.alias, wrapper.settings_dict["OPTIONS"].get("pool")
        )
        self._pool_arguments = {
            "kwargs": kwargs,
            "configure": self._configure_with(wrapper._configure_connection),
            "check": check,
            "name": f"oneloop-{wrapper.alias}",
            **options,
        }
        self.pool = self._new_pool()

    def _new_pool(self) -> _Pool:
        pool = _Pool(open=False, **self._pool_arguments)
        pool.budget = self._budget
        pool.loop = asyncio.get_running_loop()
        self._budget.add_lender(pool)
        return pool

    def _configure_with(self, configure: Any) -> Any:
        configure_facade = _on_facade(configure)

        async def configure_connection(aconn: Any) -> None:
            self._connections.add(aconn)
            await configure_facade(aconn)

        return configure_connection

    async def aclose(self) -> None:
        """Close the pool and every connection it made, even when the loop's
        shutdown already cancelled the pool's own worker tasks."""
        try:
            await self.pool.close()
        except BaseException:  # its workers were cancelled: close by hand
            self.discard()

    async def _fill(self) -> None:
        try:
            await self.pool.open(wait=True, timeout=self.timeout)
            self.pool.ready = True
        except PoolTimeout as exc:
            # psycopg's pool closed itself (it cannot be opened again): the
            # next opening starts from a new one.
            self.pool = self._new_pool()
            if self._budget.held < self._budget.size:
                raise  # not for want of a place: the server is slow or down
            raise PoolTimeout(
                timeout_message(self.alias, self.timeout, self.max_size, budget=True)
            ) from exc

    def __getattr__(self, name: str) -> Any:
        # What code that inspects Django's pool reads (get_stats(), name, the
        # health check) comes from psycopg's pool.
        return getattr(self.pool, name)

    def getconn(self) -> ConnectionFacade:
        # The errors keep psycopg_pool's classes (code that catches
        # PoolTimeout still does), with a message that says what to do.
        try:
            aconn = await_(self.pool.getconn())
        except PoolTimeout as exc:
            raise PoolTimeout(
                timeout_message(self.alias, self.timeout, self.max_size, budget=True)
            ) from exc
        except PoolClosed as exc:
            raise PoolClosed(closed_message(self.alias)) from exc
        return ConnectionFacade(aconn, self)

    def putconn(self, facade: ConnectionFacade) -> None:
        aconn = facade.async_connection
        if self.pool.budget.others_waiting(self.pool):
            # Another pool of the alias waits for a place: close it instead.
            await_(self.pool.retire(aconn))
            return
        status = aconn.info.transaction_status
        if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            try:
                await_(aconn.rollback())
            except Exception:
                pass  # the pool closes a connection it cannot reset
        await_(self.pool.putconn(aconn))

    def drop(self, facade: ConnectionFacade) -> None:
        """Give back, without IO, a connection whose state is unknown: its
        session ends now, and the pool (told on the next loop iteration)
        counts it as lost and opens a replacement."""
        aconn = facade.async_connection
        aconn.pgconn.finish()
        release(aconn)
        try:
            returning = asyncio.get_running_loop().create_task(self.pool.putconn(aconn))
        except RuntimeError:  # no loop left: the pool goes with it
            return
        _returning.add(returning)
        returning.add_done_callback(_returning.discard)

    def close(self) -> None:
        await_(self.aclose())

    def discard(self) -> None:
        """End every connection's session without waiting on a loop."""
        for aconn in list(self._connections):
            if not aconn.closed:
                aconn.pgconn.finish()
            release(aconn)


class _Driver:
    """psycopg as Django's backend reaches it (``DatabaseWrapper.Database``).
    Inside a bridge, ``connect()`` (which Django calls for an alias without a
    pool) opens psycopg's ``AsyncConnection`` instead."""

    def __getattr__(self, name: str) -> Any:
        return getattr(psycopg, name)

    def connect(self, **params: Any) -> Any:
        if not in_bridge():
            return psycopg.connect(**params)
        params["cursor_factory"] = async_cursor_factory(params["cursor_factory"])
        aconn = await_(psycopg.AsyncConnection.connect(**params))
        return ConnectionFacade(aconn, None)


class DatabaseWrapper(ShieldedCommit, django_pg.DatabaseWrapper):
    """Django's PostgreSQL ``DatabaseWrapper`` that goes async in a bridge."""

    Database = _Driver()
    features_class = DatabaseFeatures

    @property
    def pool(self) -> Any:
        """Outside a bridge, Django's own (sync) pool, if configured. Inside
        one, this loop's async pool for the alias, made on first use, with
        ``OPTIONS["pool"]`` or, when that is absent, ``DEFAULT_POOL``;
        ``None`` (a connection of its own) for ``OPTIONS["pool"] = False``.
        Both count their connections in the alias's one budget."""
        if not in_bridge():
            pool = super().pool
            if pool.__class__ is ConnectionPool:
                # Just built by Django, not yet open: count its connections.
                pool.__class__ = _SyncPool
                pool.budget = budget_for(
                    self.alias, self.settings_dict["OPTIONS"].get("pool")
                )
                pool.budget.add_lender(pool)
            return pool
        return loop_pool(self, lambda options: BridgedPool(self, options))

    def _close(self) -> None:
        # Decided by the connection held, not by where close() is called: a
        # sync connection opened on another thread (shared with
        # inc_thread_sharing()) can be closed from a bridge, and the other
        # way round.
        connection = self.connection
        if connection is None:
            return None
        pool = getattr(connection, "_pool", None)
        try:
            with self.wrap_database_errors:
                if pool is None:
                    return connection.close()
                pool.putconn(connection)
        except BaseException:
            if isinstance(connection, ConnectionFacade):
                # Cut short (a cancellation past the clean-up deadline, a
                # dead server): its state is unknown, so it is never reused.
                self.connection = None
                if pool is None:
                    connection.discard()
                else:
                    pool.drop(connection)
            raise
        self.connection = None
        return None

    def init_connection_state(self) -> None:
        """Django's, and for a connection from this loop's pool the session
        time zone made right, as Django's own pool gets it by being closed
        whenever TIME_ZONE or USE_TZ changes (``ensure_timezone``). A loop's
        pool can outlive that: Django closes it from the wrapper that sees
        the change, while a connection made before goes on to a task whose
        wrapper is new. Reading the session's zone is local (no round trip);
        it is set only when it differs."""
        super().init_connection_state()
        connection = self.connection
        if isinstance(connection, ConnectionFacade) and connection._pool is not None:
            if self._configure_timezone(connection) and not self.get_autocommit():
                connection.commit()

    def close_pool(self) -> None:
        """Close the sync pool and this alias's async pools on every loop
        (Django calls it before dropping or cloning a test database)."""
        # Django's own sync pool (Django's close_pool reads self.pool, which
        # is the async pool in a bridge).
        stock = self._connection_pools.pop(self.alias, None)
        if stock is not None:
            stock.close()
        close_alias_pools(self.alias)

    def create_cursor(self, name: str | None = None) -> Any:
        if not isinstance(self.connection, ConnectionFacade):
            return super().create_cursor(name)
        aconn = self.connection.async_connection
        if name:
            # Named cursors bind on the client unless server_side_binding is
            # set, exactly as Django's backend decides.
            if self.settings_dict["OPTIONS"].get("server_side_binding") is True:
                acursor = aconn.cursor(
                    name, scrollable=False, withhold=aconn.autocommit
                )
            else:
                acursor = AsyncServerSideCursor(
                    aconn, name=name, scrollable=False, withhold=aconn.autocommit
                )
        else:
            acursor = aconn.cursor()
        loader = aconn.adapters.get_loader(django_pg.TIMESTAMPTZ_OID, Format.TEXT)
        if self.timezone != loader.timezone:
            register_tzloader(self.timezone, acursor)
        return CursorFacade(acursor, self.connection)
