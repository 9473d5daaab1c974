"""The clean-up after a cancellation is shielded, but not without end.

A request's task is cancelled inside a transaction while the network to
PostgreSQL has gone silent (``StallingProxy`` stops forwarding but keeps the
sockets open): the ``atomic`` block's ROLLBACK then waits for an answer that
never comes. Another cancellation before ``ONELOOP["CLEANUP_TIMEOUT"]`` is
held, so a clean-up that can finish does; one after it is honoured at once,
the connection is discarded, and the pool stays usable.
"""

from __future__ import annotations

import asyncio
import copy
import time

import pytest
from django.db import connection, connections, transaction
from django.test import override_settings

import oneloop
from oneloop.db.backends.postgresql.base import DatabaseWrapper

pytestmark = pytest.mark.postgresql

DEADLINE = 1.0  # ONELOOP["CLEANUP_TIMEOUT"] in these tests, seconds
ALIAS = "proxied"


@pytest.fixture
async def proxied(transactional_db, pg_proxy):
    """The test database through ``pg_proxy``: the settings of an alias
    ``proxied`` with a pool of its own, and a clean-up deadline of
    ``DEADLINE``. Tasks install its wrapper themselves (see ``_use``), as
    an alias made at run time, which Django's test case does not police."""
    config = copy.deepcopy(connection.settings_dict)
    config.update(PORT=str(pg_proxy.port), HOST="127.0.0.1")
    config["OPTIONS"] = {"pool": {"min_size": 1, "max_size": 2, "timeout": 5}}
    try:
        with override_settings(ONELOOP={"CLEANUP_TIMEOUT": DEADLINE}):
            yield config
    finally:
        pg_proxy.resume()
        await oneloop.aclose_pools()


def _use(config: dict) -> None:
    """In a bridge: give this task a ``proxied`` connection."""
    connections[ALIAS] = DatabaseWrapper(config, ALIAS)


class Request:
    """A task like a request's: sync code in a bridge that holds a
    transaction open on ``proxied``, then gives its connections back."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.in_transaction = asyncio.Event()
        self.connection = None  # psycopg's AsyncConnection it used
        self.task = asyncio.create_task(self._serve())

    def _view(self) -> None:
        _use(self.config)
        with transaction.atomic(using=ALIAS):
            with connections[ALIAS].cursor() as cursor:
                cursor.execute("SELECT 1")
            self.connection = connections[ALIAS].connection.async_connection
            self.in_transaction.set()
            oneloop.await_(asyncio.Event().wait())  # until cancelled

    async def _serve(self) -> None:
        try:
            await oneloop.run_sync(self._view)
        finally:
            await oneloop.aclose_connections()

    async def started(self) -> None:
        """Wait until the view holds its transaction (re-raising what made
        the task fail before that)."""
        waiting = asyncio.ensure_future(self.in_transaction.wait())
        await asyncio.wait((waiting, self.task), return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():
            waiting.cancel()
            self.task.result()
            raise AssertionError("the task ended before its transaction began")

    async def ended_within(self, seconds: float) -> float:
        """Wait for the task to end (cancelled) and return how long it took;
        fail if it takes longer than ``seconds``."""
        start = time.monotonic()
        done, _ = await asyncio.wait((self.task,), timeout=seconds)
        assert done, f"the task did not end within {seconds} s"
        assert self.task.cancelled()
        return time.monotonic() - start


def _pool_stats(config: dict) -> dict[str, int]:
    _use(config)
    return connections[ALIAS].pool.get_stats()


async def _query_through_the_pool(config: dict) -> int:
    def query() -> int:
        _use(config)
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("SELECT 42")
            return cursor.fetchone()[0]

    return await asyncio.wait_for(oneloop.run_sync(query), 10)


async def test_cancellation_after_the_deadline_ends_a_hung_clean_up(proxied, pg_proxy):
    request = Request(proxied)
    await request.started()
    pg_proxy.stall()
    request.task.cancel()
    await pg_proxy.holding.wait()  # the ROLLBACK went out; no answer comes
    # Shielded: the clean-up is still waiting, past the deadline.
    done, _ = await asyncio.wait((request.task,), timeout=DEADLINE * 1.5)
    assert not done, "the clean-up ended although the network is silent"

    request.task.cancel()  # after the deadline: honoured at once
    assert await request.ended_within(DEADLINE) < DEADLINE

    # Discarded, not returned: its session is ended, and the pool counts it
    # as lost and replaces it.
    assert request.connection.closed
    stats = await oneloop.run_sync(_pool_stats, proxied)
    assert stats.get("returns_bad", 0) + stats.get("connections_lost", 0) == 1, stats
    pg_proxy.resume()
    assert await _query_through_the_pool(proxied) == 42


async def test_cancellation_before_the_deadline_lets_the_clean_up_finish(
    proxied, pg_proxy
):
    request = Request(proxied)
    await request.started()
    pg_proxy.stall()
    request.task.cancel()
    await pg_proxy.holding.wait()  # the ROLLBACK went out
    request.task.cancel()  # again, long before the deadline: held
    done, _ = await asyncio.wait((request.task,), timeout=DEADLINE / 4)
    assert not done
    pg_proxy.resume()  # the ROLLBACK's answer arrives
    await request.ended_within(DEADLINE)

    # Rolled back and returned to the pool, not discarded.
    assert not request.connection.closed
    stats = await oneloop.run_sync(_pool_stats, proxied)
    assert not stats.get("returns_bad") and not stats.get("connections_lost"), stats
    assert await _query_through_the_pool(proxied) == 42


async def test_held_cancellation_is_honoured_at_the_deadline(proxied, pg_proxy):
    request = Request(proxied)
    await request.started()
    pg_proxy.stall()
    request.task.cancel()
    await pg_proxy.holding.wait()  # the ROLLBACK went out
    started = time.monotonic()
    request.task.cancel()  # held, and the network never comes back
    await request.ended_within(DEADLINE + 5)
    took = time.monotonic() - started
    assert took >= DEADLINE * 0.9, took
    assert request.connection.closed
    pg_proxy.resume()
    assert await _query_through_the_pool(proxied) == 42
