"""The floor: a hand-written ASGI app on a psycopg ``AsyncConnectionPool``.

No framework, no ORM, no template engine: what the same database work costs
with nothing in between. Same SQL as Django sends, same pool size.
"""

from __future__ import annotations

import asyncio
import html
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from bench.db import ROWS
from bench.peers import POOL, pg_params

P2_WAIT = 0.05
P5_WAIT = 1.0
P6_QUERIES = 5

WAITING_SQL = (
    "SELECT id, n, name, value, (SELECT 1 FROM pg_sleep(%s)) AS waited "
    "FROM bench_item WHERE n = %s ORDER BY id LIMIT 1"
)
ROWS_SQL = "SELECT id, n, name, value FROM bench_item WHERE n >= %s ORDER BY n LIMIT 20"

pool = AsyncConnectionPool(
    make_conninfo(**pg_params()),
    min_size=POOL,
    max_size=POOL,
    timeout=30,
    open=False,
)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _key() -> int:
    return random.randrange(ROWS - 20)


async def _waiting(seconds: float) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(WAITING_SQL, (seconds, _key()))
        row = await cur.fetchone()
    if row is None:
        return {}
    return {"id": row[0], "n": row[1], "name": row[2], "value": row[3]}


async def _rows_page() -> bytes:
    async with pool.connection() as conn:
        cur = await conn.execute(ROWS_SQL, (_key(),))
        rows = await cur.fetchall()
    out = [
        "<!doctype html>\n<html><head><title>Items</title></head>\n<body>\n",
        "<h1>Items</h1>\n<table>\n<tr><th>n</th><th>name</th><th>value</th></tr>\n",
    ]
    for i, (_id, n, name, value) in enumerate(rows):
        css = "odd" if i % 2 == 0 else "even"
        out.append(
            f'<tr class="{css}"><td>{n}</td><td>{html.escape(name.title())}</td>'
            f"<td>{value:.2f}</td></tr>\n"
        )
    out.append(f"</table>\n<p>{len(rows)} rows</p>\n</body></html>\n")
    return "".join(out).encode()


async def _respond(send: Send, status: int, body: bytes, ctype: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await pool.open(wait=True)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Route ``/health/`` and ``/async/p2|p4|p5|p6/``."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    path = scope["path"]
    json_type = b"application/json"
    if path == "/async/p2/":
        body = json.dumps(await _waiting(P2_WAIT)).encode()
        await _respond(send, 200, body, json_type)
    elif path == "/async/p4/":
        await _respond(send, 200, await _rows_page(), b"text/html; charset=utf-8")
    elif path == "/async/p5/":
        body = json.dumps(await _waiting(P5_WAIT)).encode()
        await _respond(send, 200, body, json_type)
    elif path == "/async/p6/":
        items = await asyncio.gather(*(_waiting(P2_WAIT) for _ in range(P6_QUERIES)))
        await _respond(send, 200, json.dumps({"items": items}).encode(), json_type)
    elif path == "/health/":
        await _respond(send, 200, b"ok", b"text/plain")
    else:
        await _respond(send, 404, b"not found", b"text/plain")
