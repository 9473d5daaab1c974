"""Sync and async consumers over real sockets: uvicorn (websockets), the
standard Channels routing, a real WebSocket client, the database of this
pass of the suite (PostgreSQL or SQLite)."""

from __future__ import annotations

import contextlib

import pytest
from django.conf import settings

from tests.channels.conftest import POOL_MAX
from tests.channels.sockets import ConnectionCensus, ask, query_together, sockets

pytestmark = [pytest.mark.slow]


@contextlib.asynccontextmanager
async def census(server):
    """A ``ConnectionCensus`` on PostgreSQL; ``None`` on SQLite."""
    if settings.DB != "postgresql":
        yield None
        return
    async with ConnectionCensus(server.database) as counting:
        yield counting


async def test_hundred_sync_consumers_wait_on_the_database_together(server):
    """100 sockets whose sync receive() each runs a 0.2 s query: all replied
    within 2 s (in a thread, stock Channels needs 100 x 0.2 s), every handler
    on the loop thread, no thread started, at most the pool's connections."""
    async with sockets(server, "/ws/query/", 100) as socks:
        before = await ask(socks[0], {"id": -1, "sleep": 0})
        async with census(server) as counting:
            replies, elapsed = await query_together(socks, 0.2)
    assert elapsed < 2, f"100 replies took {elapsed:.2f} s"
    assert all(r["on_loop_thread"] and r["in_bridge"] for r in replies)
    assert {tuple(r["threads"]) for r in replies} == {tuple(before["threads"])}
    assert before["threads"] == ["MainThread", "oneloop-watchdog"]
    if counting is not None:
        assert 0 < counting.peak <= POOL_MAX


async def test_async_consumer_uses_the_orm_on_the_loop(server):
    async with sockets(server, "/ws/async/", 1) as (sock,):
        reply = await ask(sock, {"sleep": 0.01})
    assert reply["on_loop_thread"] and not reply["in_bridge"]
    # database_sync_to_async runs in a bridge of the consumer's task.
    assert reply["helper"]["on_loop_thread"] and reply["helper"]["in_bridge"]
    assert reply["helper"]["books"] == reply["books"]
    assert reply["threads"] == ["MainThread", "oneloop-watchdog"]
