"""Fixtures of the database tests: where queries run, which threads start,
and a query that waits in the database on either backend."""

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.backends.signals import connection_created

import oneloop
from tests import sleeping_sql


class QueryThreads:
    """Records the thread of every query run through Django's cursor, on
    every connection made while it is active."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def __call__(self, execute, sql, params, many, context):
        self.threads.append(threading.get_ident())
        return execute(sql, params, many, context)

    def on_connect(self, sender, connection, **kwargs):
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)


@pytest.fixture
def query_threads():
    recorder = QueryThreads()
    # Connections made from now on, and this thread's own (which tests pin
    # for an in-memory SQLite database).
    connection_created.connect(recorder.on_connect)
    existing = connections.all()
    for conn in existing:
        conn.execute_wrappers.append(recorder)
    yield recorder
    connection_created.disconnect(recorder.on_connect)
    for conn in existing:
        conn.execute_wrappers.remove(recorder)


@pytest.fixture
def driver_threads(monkeypatch):
    """Records the thread of every statement the database driver executes:
    psycopg's async cursor on PostgreSQL; on MySQL, every call the ENGINE's
    facade awaits on asyncmy; on SQLite, sqlite3's trace callback, which
    runs in the thread executing the statement."""
    threads: list[int] = []

    if connection.vendor == "mysql":
        from oneloop.db.backends.mysql._facade import ConnectionFacade

        io = ConnectionFacade.io

        def recording_io(self, awaitable):
            async def awaited():
                threads.append(threading.get_ident())
                return await awaitable

            return io(self, awaited())

        monkeypatch.setattr(ConnectionFacade, "io", recording_io)
        yield threads
        return

    if connection.vendor == "postgresql":
        execute = psycopg.AsyncCursor.execute

        async def recording_execute(self, *args, **kwargs):
            threads.append(threading.get_ident())
            return await execute(self, *args, **kwargs)

        monkeypatch.setattr(psycopg.AsyncCursor, "execute", recording_execute)
        yield threads
        return

    def trace(statement):
        threads.append(threading.get_ident())

    def on_connect(sender, connection, **kwargs):
        connection.connection.set_trace_callback(trace)

    connection_created.connect(on_connect)
    yield threads
    connection_created.disconnect(on_connect)


@pytest.fixture
def sleep_sql():
    """SQL of a query that waits ``%s`` seconds in the database (see
    ``tests.sleeping_sql``)."""
    connection_created.connect(sleeping_sql.register_sleep)
    yield sleeping_sql.sleep_sql(connection.vendor)
    connection_created.disconnect(sleeping_sql.register_sleep)


class StallingProxy:
    """A TCP proxy on 127.0.0.1 to PostgreSQL that can be told to stop
    forwarding, in both directions and on every connection, new ones
    included, while keeping the sockets open: a network that went silent,
    as a dead server behind a firewall looks to its clients. The
    ``pg_proxy`` fixture serves it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.flowing = asyncio.Event()
        self.flowing.set()
        # Set when data came in while stalled: it waits in the proxy.
        self.holding = asyncio.Event()
        self.port = 0
        self.closed_by_client = 0  # client sockets that the client closed
        self.handlers: set[asyncio.Task] = set()

    def stall(self) -> None:
        """Stop forwarding: data sent from now on waits in the proxy."""
        self.holding.clear()
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    async def handle(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self.handlers.add(handler)
        server_writer = None
        try:
            await self.flowing.wait()
            server_reader, server_writer = await asyncio.open_connection(*self.target)
            upstream = asyncio.create_task(self._pipe(client_reader, server_writer))
            downstream = asyncio.create_task(self._pipe(server_reader, client_writer))
            done, _ = await asyncio.wait(
                (upstream, downstream), return_when=asyncio.FIRST_COMPLETED
            )
            if upstream in done:
                self.closed_by_client += 1
            for task in (upstream, downstream):
                task.cancel()
            await asyncio.gather(upstream, downstream, return_exceptions=True)
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            self.handlers.discard(handler)
            for writer in (client_writer, server_writer):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Forward what ``reader`` gets while the proxy flows; keep reading
        while it is stalled, so a side that closes is seen at once."""
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        async def send() -> None:
            while True:
                data = await queue.get()
                if not self.flowing.is_set():
                    self.holding.set()
                    await self.flowing.wait()
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(send())
        try:
            while data := await reader.read(65536):
                queue.put_nowait(data)
        finally:
            sender.cancel()


@pytest.fixture
async def pg_proxy():
    """A ``StallingProxy`` to the test PostgreSQL server, listening on a
    free port; its connections are cut at the end of the test."""
    proxy = StallingProxy(settings.PG_HOST, int(settings.PG_PORT))
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    async with server:
        yield proxy
        server.close()
        for handler in list(proxy.handlers):
            handler.cancel()
        await asyncio.gather(*proxy.handlers, return_exceptions=True)


async def cancel_mid_query(work: Callable[[], None], started: asyncio.Event) -> float:
    """Run ``work`` in a bridge, cancel it 0.2 s after it sets ``started``
    (just before its long query), and return when it was cancelled."""
    task = asyncio.create_task(oneloop.run_sync(work))
    await started.wait()
    await asyncio.sleep(0.2)
    cancelled_at = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return cancelled_at
