"""One connection budget per alias per process, seen from the server.

Django's sync pool (used with no loop running, by ``SYNC_VIEWS="thread"``
views and by ``offload()`` threads) and the loop's pool share the alias's
``max_size``: ``pg_stat_activity`` never shows more connections of the
process than that, whatever the mix of work."""

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.conf import settings
from django.db import OperationalError, connections

import oneloop

pytestmark = pytest.mark.postgresql

APPLICATION = "oneloop-budget-test"


class ServerCount:
    """Counts, from a connection of its own in a thread, the server backends
    of the ``budget`` alias (by application_name), and keeps the peak.

    A backend whose client has closed its connection stays listed for a
    moment, until its process has exited (PostgreSQL answers no Terminate),
    while a new connection may already have its place: the count leaves
    out the backends whose connection the client had closed before the
    query (``closed``, by backend pid). ``listed_peak`` counts them too."""

    def __init__(self, closed: list[int]) -> None:
        self.peak = 0
        self.listed_peak = 0
        self._closed = closed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="budget-watch")

    def _watch(self) -> None:
        db = settings.DATABASES["budget"]
        with psycopg.connect(
            host=db["HOST"],
            port=db["PORT"],
            user=db["USER"],
            dbname=connections["budget"].settings_dict["NAME"],
            autocommit=True,
        ) as conn:
            while not self._stop.is_set():
                closed = set(self._closed[:])  # appended to by other threads
                pids = [
                    pid
                    for (pid,) in conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                        [APPLICATION],
                    )
                ]
                self.listed_peak = max(self.listed_peak, len(pids))
                self.peak = max(self.peak, len(set(pids) - closed))
                time.sleep(0.005)

    def __enter__(self) -> "ServerCount":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def closed_by_client(monkeypatch) -> list[int]:
    """The backend pids of the psycopg connections (sync and async) closed
    since the fixture was set up, each added once its close() returned."""
    closed: list[int] = []
    sync_close = psycopg.Connection.close
    async_close = psycopg.AsyncConnection.close

    def close(self: psycopg.Connection) -> None:
        pid = self.info.backend_pid
        sync_close(self)
        closed.append(pid)

    async def aclose(self: psycopg.AsyncConnection) -> None:
        pid = self.info.backend_pid
        await async_close(self)
        closed.append(pid)

    monkeypatch.setattr(psycopg.Connection, "close", close)
    monkeypatch.setattr(psycopg.AsyncConnection, "close", aclose)
    return closed


@pytest.fixture
def close_sync_pools():
    """Close Django's sync pools of the aliases a test used: the test
    database is dropped through the default alias, which closes only its
    own."""
    aliases: list[str] = []
    yield aliases.append
    for alias in aliases:
        pool = connections[alias]._connection_pools.pop(alias, None)
        if pool is not None:
            pool.close()


def hold_a_connection(seconds: float) -> int:
    """A query that keeps its connection ``seconds``; the backend's pid."""
    conn = connections["budget"]
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), pg_sleep(%s)", [seconds])
            return cursor.fetchone()[0]
    finally:
        # What Django does at the end of a request (request_finished).
        conn.close()


def in_a_thread(seconds: float) -> int:
    """Sync work in a thread, as a SYNC_VIEWS="thread" view runs, from a
    bridge: through ``offload()``, on Django's sync pool."""
    return oneloop.offload(hold_a_connection, seconds)


@pytest.mark.django_db(transaction=True, databases=["default", "budget"])
async def test_sync_pool_threads_and_loop_share_max_size(
    close_sync_pools, closed_by_client
):
    close_sync_pools("budget")
    max_size = settings.DATABASES["budget"]["OPTIONS"]["pool"]["max_size"]
    with ServerCount(closed_by_client) as count:
        # The migrate-at-import case: sync work before serving opens Django's
        # sync pool (min_size connections), which stays open, idle.
        await asyncio.to_thread(hold_a_connection, 0)
        assert connections["budget"].pool.__class__.__name__ == "_SyncPool"
        # Then, at once: 12 requests on the loop, 6 in threads.
        bridged = [oneloop.run_sync(hold_a_connection, 0.3) for _ in range(12)]
        threaded = [oneloop.run_sync(in_a_thread, 0.3) for _ in range(6)]
        started = time.perf_counter()
        pids = await asyncio.wait_for(asyncio.gather(*bridged, *threaded), 60)
        took = time.perf_counter() - started
    assert len(pids) == 18  # every piece of work finished: nothing deadlocked
    assert count.peak <= max_size, f"{count.peak} connections for {max_size}"
    # It did run concurrently: 18 x 0.3 s in far less than 5.4 s.
    assert count.peak >= 3
    assert took < 5


@pytest.mark.django_db(transaction=True, databases=["default", "budget"])
async def test_idle_sync_connections_make_room_for_the_loop(close_sync_pools):
    close_sync_pools("budget")
    max_size = settings.DATABASES["budget"]["OPTIONS"]["pool"]["max_size"]
    # Sync work before serving leaves Django's sync pool with its min_size
    # connections, idle.
    await asyncio.to_thread(hold_a_connection, 0)
    assert connections["budget"].pool.get_stats()["pool_available"] >= 1
    # The loop still gets the whole budget at once: max_size tasks each
    # hold a connection until all of them have one.
    holding = 0
    everyone = asyncio.Event()

    def hold_until_everyone_holds() -> None:
        nonlocal holding
        with connections["budget"].cursor() as cursor:
            cursor.execute("SELECT 1")
            holding += 1
            if holding == max_size:
                everyone.set()
            oneloop.await_(everyone.wait())
        connections["budget"].close()

    tasks = [oneloop.run_sync(hold_until_everyone_holds) for _ in range(max_size)]
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    # The sync pool gave its idle connections up for them.
    assert connections["budget"].pool.get_stats()["pool_size"] == 0


@pytest.mark.django_db(transaction=True, databases=["default", "budget"])
async def test_idle_loop_connections_make_room_for_threads(close_sync_pools):
    close_sync_pools("budget")
    max_size = settings.DATABASES["budget"]["OPTIONS"]["pool"]["max_size"]
    # A burst on the loop leaves its pool with max_size idle connections.
    bursts = [oneloop.run_sync(hold_a_connection, 0.1) for _ in range(max_size)]
    await asyncio.gather(*bursts)
    # Threads (SYNC_VIEWS="thread" views, offload() calls) still get the
    # whole budget at once: each holds its connection until all do.
    everyone = threading.Barrier(max_size, timeout=20)

    def hold_until_everyone_holds() -> None:
        conn = connections["budget"]
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1")
                everyone.wait()
        finally:
            conn.close()

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=max_size) as threads:
        await asyncio.gather(
            *(
                loop.run_in_executor(threads, hold_until_everyone_holds)
                for _ in range(max_size)
            )
        )


async def run_on(side: str, fn: Callable[[], None]) -> None:
    """Run sync ``fn`` on the loop in a bridge, or in a thread."""
    if side == "loop":
        await oneloop.run_sync(fn)
    else:
        await asyncio.to_thread(fn)


def query_tiny_pool() -> None:
    conn = connections["tiny_pool"]
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("holders", "waiter"), [("thread", "loop"), ("loop", "thread")]
)
@pytest.mark.django_db(transaction=True, databases=["default", "tiny_pool"])
async def test_a_full_budget_times_out_naming_alias_and_fix(
    holders, waiter, close_sync_pools
):
    close_sync_pools("tiny_pool")
    loop = asyncio.get_running_loop()
    held: asyncio.Queue[None] = asyncio.Queue()
    release = asyncio.Event()

    def hold() -> None:
        conn = connections["tiny_pool"]
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1")
                loop.call_soon_threadsafe(held.put_nowait, None)
                if oneloop.in_bridge():
                    oneloop.await_(release.wait())
                else:
                    asyncio.run_coroutine_threadsafe(release.wait(), loop).result()
        finally:
            conn.close()

    # Two holders on one side take both places of tiny_pool's budget
    # (max_size 2); the other side then finds none in 0.3 s.
    holding = [asyncio.create_task(run_on(holders, hold)) for _ in range(2)]
    for _ in holding:
        await held.get()
    with pytest.raises(OperationalError) as info:
        await run_on(waiter, query_tiny_pool)
    message = str(info.value)
    assert "'tiny_pool'" in message
    assert "holds the 2 connections" in message
    assert "Django's sync pool" in message
    assert "max_size" in message and "timeout" in message
    release.set()
    await asyncio.gather(*holding)
    # The places came back: the waiting side gets a connection again.
    await run_on(waiter, query_tiny_pool)


@pytest.mark.parametrize("side", ["loop", "thread"])
@pytest.mark.django_db(transaction=True, databases=["default", "budget"])
async def test_connections_lost_with_their_server_give_their_places_back(
    side, close_sync_pools
):
    close_sync_pools("budget")
    max_size = settings.DATABASES["budget"]["OPTIONS"]["pool"]["max_size"]
    # The broken connections stay referenced, as a traceback or a reference
    # cycle keeps them: their places must come back when the pool drops
    # them, not when they are collected.
    lost = []

    def hold_until_killed() -> None:
        conn = connections["budget"]
        try:
            with conn.cursor() as cursor:
                lost.append(conn.connection)
                cursor.execute("SELECT pg_sleep(60)")
        except OperationalError:
            pass  # its server process was terminated, as in a restart
        finally:
            conn.close()

    db = settings.DATABASES["budget"]
    server = await psycopg.AsyncConnection.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        dbname=connections["budget"].settings_dict["NAME"],
        autocommit=True,
    )
    async with server:
        holders = [
            asyncio.create_task(run_on(side, hold_until_killed))
            for _ in range(max_size)
        ]
        sleeping = (
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = %s AND query LIKE %s"
        )
        for _ in range(200):
            cursor = await server.execute(sleeping, [APPLICATION, "%pg_sleep(60)%"])
            pids = [pid for (pid,) in await cursor.fetchall()]
            if len(pids) == max_size:
                break
            await asyncio.sleep(0.1)
        assert len(pids) == max_size, pids
        for pid in pids:
            await server.execute("SELECT pg_terminate_backend(%s)", [pid])
        await asyncio.wait_for(asyncio.gather(*holders), 30)
    assert len(lost) == max_size
    # The whole budget is there again for the same side, at once.
    await asyncio.wait_for(
        asyncio.gather(
            *(run_on(side, lambda: hold_a_connection(0.2)) for _ in range(max_size))
        ),
        20,
    )
