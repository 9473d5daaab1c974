"""Connection hygiene, disconnects and errors over real sockets: a consumer
holds a database connection only while a handler runs; a socket that closes
mid-handler or a consumer that raises ends its transaction and gives its
connection back; bad frames get the server's answer; nothing leaks."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosedError

from oneloop.db.backends.sqlite3.base import IDLE_CONNECTIONS
from tests.channels.conftest import start
from tests.channels.sockets import (
    ConnectionCensus,
    ask,
    count_rows,
    raw_handshake,
    read_close_code,
    sockets,
)
from tests.servers import stop_process

pytestmark = [pytest.mark.slow]

SMALL_POOL = 5


@pytest.fixture(scope="module")
def small_pool_server(channels_database, tmp_path_factory):
    """The project with a PostgreSQL pool of ``SMALL_POOL`` connections."""
    running = start(
        channels_database,
        tmp_path_factory.mktemp("channels-small-pool"),
        ONELOOP_CHANNELS_POOL_MAX=str(SMALL_POOL),
    )
    yield running
    stop_process(running.process, grace=10)


async def no_connection_held(server) -> None:
    """Every connection of the server is back: on PostgreSQL none is inside
    a transaction; on SQLite at most the idle ones kept for reuse are open,
    plus the one the probing handler holds."""
    async with sockets(server, "/ws/query/", 1) as (probe,):
        reply = await ask(probe, {"sleep": 0})
    if settings.DB == "postgresql":
        async with ConnectionCensus(server.database) as census:
            assert await census.count("idle in transaction") == 0
            assert await census.count("active") == 0
    else:
        assert reply["sqlite_threads"] <= IDLE_CONNECTIONS + 1


async def test_a_thousand_open_sockets_need_no_more_than_the_pool(
    small_pool_server,
):
    """1,000 sockets each run a query, then stay open: with a pool of 5
    connections (10 s timeout) every one of them gets its reply, so none
    kept its connection after its handler."""
    server = small_pool_server
    async with sockets(server, "/ws/query/", 1000) as socks:
        if settings.DB == "postgresql":
            async with ConnectionCensus(server.database) as census:
                replies = await asyncio.gather(
                    *(ask(s, {"id": n, "sleep": 0.01}) for n, s in enumerate(socks))
                )
            assert census.peak <= SMALL_POOL
        else:
            replies = await asyncio.gather(
                *(ask(s, {"id": n, "sleep": 0.01}) for n, s in enumerate(socks))
            )
        assert sorted(r["id"] for r in replies) == list(range(1000))
        # Still all open, and idle: a new socket's query gets a connection.
        await no_connection_held(server)


async def test_socket_closed_mid_handler_ends_its_transaction(server):
    """The client leaves while its handler waits inside atomic: the handler
    runs on as under stock Channels, its reply then fails (the server says
    the client is gone), atomic rolls back and the connection goes back."""
    title = f"left-{uuid.uuid4().hex}"
    async with sockets(server, "/ws/transaction/", 1) as (sock,):
        await sock.send(json.dumps({"title": title, "sleep": 0.5}))
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    # The reply failed inside atomic: rolled back.
    assert count_rows(server, title) == 0
    await no_connection_held(server)


async def test_consumer_that_raises_closes_only_its_own_socket(server):
    """The error propagates out of the consumer as under stock Channels: the
    server logs it and drops that socket; its transaction is rolled back and
    the other sockets carry on."""
    title = f"failed-{uuid.uuid4().hex}"
    async with (
        sockets(server, "/ws/failing/", 1) as (failing,),
        sockets(server, "/ws/query/", 5) as others,
    ):
        await failing.send(title)
        with pytest.raises(ConnectionClosedError) as closed:
            await failing.recv()
        # uvicorn's answer to an application error after the handshake: it
        # closes the TCP connection without a close frame (1006 abnormal).
        assert closed.value.rcvd is None
        replies = await asyncio.gather(*(ask(s, {"sleep": 0.05}) for s in others))
    assert all(r["on_loop_thread"] for r in replies)
    assert count_rows(server, title) == 0
    assert await server.logged(f"consumer failed on {title!r}")
    await no_connection_held(server)


async def test_oversized_and_malformed_frames_get_the_servers_answer(server):
    # uvicorn's default limit is 16 MiB: 1009 "message too big".
    async with sockets(server, "/ws/query/", 1) as (sock,):
        await sock.send("x" * (16 * 1024 * 1024 + 1))
        with pytest.raises(ConnectionClosedError) as closed:
            await sock.recv()
        assert closed.value.rcvd.code == 1009
    # A frame with a reserved bit set and no extension: 1002 protocol error.
    reader, writer = await raw_handshake(server, "/ws/query/")
    writer.write(bytes([0xC1, 0x80]) + b"mask")
    try:
        assert await read_close_code(reader) == 1002
    finally:
        writer.close()
    await no_connection_held(server)
