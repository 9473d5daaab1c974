"""WebSocket clients and database probes shared by the Channels tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
from websockets.asyncio.client import ClientConnection, connect

from tests.servers import admin_dsn


@contextlib.asynccontextmanager
async def sockets(
    server: Any, path: str, count: int, **kwargs: Any
) -> AsyncIterator[list[ClientConnection]]:
    """``count`` WebSocket connections to ``path``, opened concurrently."""
    async with contextlib.AsyncExitStack() as stack:
        opened = await asyncio.gather(
            *(
                connect(
                    server.ws_url + path, origin=server.url, open_timeout=30, **kwargs
                )
                for _ in range(count)
            )
        )
        for socket in opened:
            stack.push_async_callback(socket.close)
        yield opened


async def ask(socket: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    await socket.send(json.dumps(message))
    return json.loads(await socket.recv())


async def query_together(
    socks: list[ClientConnection], seconds: float
) -> tuple[list[dict[str, Any]], float]:
    """Every socket of ``/ws/query/`` asks at once for a query that waits
    ``seconds``: the replies (one each, checked) and how long the last took."""
    started = time.monotonic()
    replies = await asyncio.gather(
        *(ask(s, {"id": n, "sleep": seconds}) for n, s in enumerate(socks))
    )
    elapsed = time.monotonic() - started
    assert sorted(r["id"] for r in replies) == list(range(len(socks)))
    return replies, elapsed


async def broadcast(server: Any, group: str, text: str) -> dict[str, Any]:
    """``text`` sent to ``group`` by the project's sync view; where it ran."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post(
            f"/broadcast/{group}/", content=json.dumps({"text": text})
        )
    response.raise_for_status()
    return response.json()


class ConnectionCensus:
    """Samples, every 20 ms while active, how many sessions the server holds
    on a PostgreSQL database (``pg_stat_activity``); ``peak`` is the most."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.peak = 0
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> ConnectionCensus:
        self._conn = await psycopg.AsyncConnection.connect(admin_dsn(), autocommit=True)
        self._task = asyncio.create_task(self._sample())
        return self

    async def count(self, state: str | None = None) -> int:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
        params: list[Any] = [self.database]
        if state is not None:
            query += " AND state = %s"
            params.append(state)
        cursor = await self._conn.execute(query, params)
        row = await cursor.fetchone()
        return row[0]

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, await self.count())
            await asyncio.sleep(0.02)

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._conn.close()


def count_rows(server: Any, title: str) -> int:
    """How many books titled ``title`` the server's database holds, read with
    a connection of the test's own."""
    if server.database.endswith(".sqlite3"):
        with contextlib.closing(sqlite3.connect(server.database)) as conn:
            query = "SELECT count(*) FROM testapp_book WHERE title = ?"
            return conn.execute(query, [title]).fetchone()[0]
    with psycopg.connect(admin_dsn(server.database)) as conn:
        query = "SELECT count(*) FROM testapp_book WHERE title = %s"
        return conn.execute(query, [title]).fetchone()[0]


async def raw_handshake(
    server: Any, path: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket opened by hand on a plain TCP stream, to send frames no
    client library would."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {server.url}\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def read_close_code(reader: asyncio.StreamReader) -> int:
    """The status code of the close frame the server sends next."""
    first, length = await reader.readexactly(2)
    assert first & 0x0F == 0x8, f"expected a close frame, got opcode {first & 0x0F}"
    payload = await reader.readexactly(length & 0x7F)
    return int.from_bytes(payload[:2], "big")
