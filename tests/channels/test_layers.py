"""Channel layers over real sockets: the in-memory layer and channels_redis
on the real Redis. A sync HTTP view's ``async_to_sync(group_send)`` and a
sync consumer's reach every consumer of the group, all on the loop thread."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.channels.sockets import broadcast, sockets

pytestmark = [pytest.mark.slow]


@pytest.fixture(
    params=[
        pytest.param("server", id="in-memory"),
        pytest.param("redis_server", id="redis", marks=pytest.mark.redis),
    ]
)
def layer_server(request):
    return request.getfixturevalue(request.param)


async def test_sync_view_and_sync_consumer_send_to_a_group(layer_server):
    server = layer_server
    group = f"news-{uuid.uuid4().hex[:12]}"
    async with sockets(server, f"/ws/group/{group}/", 3) as members:
        # Every member has joined once its handshake is answered (connect()
        # adds it to the group before accepting).
        view = await broadcast(server, group, "from a view")
        assert view["on_loop_thread"] and view["in_bridge"]
        received = [json.loads(await m.recv()) for m in members]
        assert [r["text"] for r in received] == ["from a view"] * 3

        await members[0].send(json.dumps({"text": "from a consumer"}))
        relayed = await asyncio.gather(*(m.recv() for m in members))
        relayed = [json.loads(r) for r in relayed]
        assert [r["text"] for r in relayed] == ["from a consumer"] * 3
    for event in [*received, *relayed]:
        for place in (event["sender"], event["relay"]):
            assert place["on_loop_thread"] and place["in_bridge"]
            assert place["threads"] == ["MainThread", "oneloop-watchdog"]
