"""The same project on the other servers that speak WebSockets: daphne
(Channels' own) and granian. uvicorn is the server of the other tests."""

from __future__ import annotations

import json
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from tests.channels.sockets import ask, broadcast, count_rows, query_together, sockets

pytestmark = [pytest.mark.slow]


async def test_sync_consumers_wait_on_the_database_together(other_server):
    server = other_server
    async with sockets(server, "/ws/query/", 50) as socks:
        before = await ask(socks[0], {"id": -1, "sleep": 0})
        replies, elapsed = await query_together(socks, 0.2)
    assert elapsed < 2, f"50 replies took {elapsed:.2f} s"
    assert all(r["on_loop_thread"] and r["in_bridge"] for r in replies)
    assert {tuple(r["threads"]) for r in replies} == {tuple(before["threads"])}


async def test_a_sync_view_reaches_a_group(other_server):
    server = other_server
    group = f"news-{uuid.uuid4().hex[:12]}"
    async with sockets(server, f"/ws/group/{group}/", 3) as members:
        assert (await broadcast(server, group, "hello"))["in_bridge"]
        received = [json.loads(await m.recv()) for m in members]
    assert [r["text"] for r in received] == ["hello"] * 3
    assert all(r["relay"]["on_loop_thread"] for r in received)


# What each server answers when the application raises after the handshake.
ERROR_CLOSE_CODES = {"daphne": 1011, "granian": 1005}


async def test_consumer_that_raises_closes_its_socket(other_server, request):
    title = f"failed-{uuid.uuid4().hex}"
    async with sockets(other_server, "/ws/failing/", 1) as (failing,):
        await failing.send(title)
        with pytest.raises(ConnectionClosed) as closed:
            await failing.recv()
    name = request.node.callspec.params["other_server"]
    assert closed.value.rcvd.code == ERROR_CLOSE_CODES[name]
    assert count_rows(other_server, title) == 0
    assert await other_server.logged(f"consumer failed on {title!r}")
