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
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout
from psycopg_pool.pool_async import StopWorker

from oneloop.bridge import await_, in_bridge, run_sync
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

# Connections being handed back to their pool by BridgedPool.drop().
_returning: set[asyncio.Task] = set()


class _Pool(AsyncConnectionPool):
    """psycopg's pool, with workers that stop when their task is cancelled.

    psycopg's workers survive a cancellation that lands inside a connection
    attempt (the attempt is retried later). ``asyncio.run()`` cancels every
    task at shutdown and waits for all of them: a pool caught connecting
    would make it wait forever.
    """

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
        self.max_size = options.get("max_size", options.get("min_size", 4))
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
        self.pool = _Pool(
            kwargs=kwargs,
            open=False,
            configure=self._configure_with(wrapper._configure_connection),
            check=check,
            name=f"oneloop-{wrapper.alias}",
            **options,
        )

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
        await self.pool.open(wait=True, timeout=self.timeout)

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
                timeout_message(self.alias, self.timeout, self.max_size)
            ) from exc
        except PoolClosed as exc:
            raise PoolClosed(closed_message(self.alias)) from exc
        return ConnectionFacade(aconn, self)

    def putconn(self, facade: ConnectionFacade) -> None:
        aconn = facade.async_connection
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
        ``None`` (a connection of its own) for ``OPTIONS["pool"] = False``."""
        if not in_bridge():
            return super().pool
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
