"""The Channels adapter in-process (Channels' own ``WebsocketCommunicator``
on the test's loop): where handlers run, the settings that keep Channels'
stock path, transactions across ``database_sync_to_async``, and a handler
that leaves a transaction open."""

from __future__ import annotations

import functools
import threading

import pytest
from channels.db import database_sync_to_async
from channels.generic.websocket import (
    AsyncJsonWebsocketConsumer,
    JsonWebsocketConsumer,
)
from channels.testing import WebsocketCommunicator
from django.db import connection, transaction
from django.test import override_settings

import oneloop
from tests.mysql_server import OPEN_TRANSACTIONS
from tests.testapp.models import Book

pytestmark = [pytest.mark.django_db(transaction=True)]


class WhereConsumer(JsonWebsocketConsumer):
    def receive_json(self, content, **kwargs):
        self.send_json(
            {
                "loop_thread": threading.get_ident() == content["loop_thread"],
                "in_bridge": oneloop.in_bridge(),
            }
        )


class LeavesTransactionOpen(JsonWebsocketConsumer):
    """Writes with autocommit off and never commits."""

    def receive_json(self, content, **kwargs):
        transaction.set_autocommit(False)
        Book.objects.create(title=content["title"])
        self.send_json({"in_transaction": not connection.get_autocommit()})


@database_sync_to_async
def count(title: str) -> int:
    return Book.objects.filter(title=title).count()


class AtomicConsumer(AsyncJsonWebsocketConsumer):
    """An async consumer: atomic around an a*() write and a
    database_sync_to_async read, then a rollback."""

    async def receive_json(self, content, **kwargs):
        title = content["title"]
        try:
            async with oneloop.atomic():
                await Book.objects.acreate(title=title)
                seen = await count(title)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        await self.send_json({"seen_inside": seen, "after": await count(title)})


def count_now(title: str) -> int:
    return Book.objects.filter(title=title).count()


class FanOutConsumer(AsyncJsonWebsocketConsumer):
    """An async consumer: a*() writes, then sync code through run_sync that
    fans its reads out with oneloop.gather, as a view does."""

    async def receive_json(self, content, **kwargs):
        titles = content["titles"]
        for title in titles:
            await Book.objects.acreate(title=title)
        reads = (functools.partial(count_now, title) for title in titles)
        await self.send_json({"counts": await oneloop.run_sync(oneloop.gather, *reads)})


async def talk(consumer, message):
    communicator = WebsocketCommunicator(consumer.as_asgi(), "/")
    connected, _ = await communicator.connect()
    assert connected
    try:
        await communicator.send_json_to(message)
        return await communicator.receive_json_from(timeout=10)
    finally:
        await communicator.disconnect()


async def test_sync_handlers_run_in_a_bridge_on_the_loop_thread():
    reply = await talk(WhereConsumer, {"loop_thread": threading.get_ident()})
    assert reply == {"loop_thread": True, "in_bridge": True}


@override_settings(ONELOOP={"SYNC_VIEWS": "thread"})
async def test_sync_views_thread_keeps_channels_thread():
    reply = await talk(WhereConsumer, {"loop_thread": threading.get_ident()})
    assert reply == {"loop_thread": False, "in_bridge": False}


async def test_database_sync_to_async_inside_atomic_uses_its_transaction():
    reply = await talk(AtomicConsumer, {"title": "atomic-across"})
    # Inside the block the helper saw the uncommitted row: same connection.
    assert reply == {"seen_inside": 1, "after": 0}


async def test_async_consumer_uses_run_sync_and_gather():
    reply = await talk(FanOutConsumer, {"titles": ["fan-a", "fan-b", "fan-c"]})
    assert reply == {"counts": [1, 1, 1]}


def open_transactions() -> int:
    """Transactions other connections hold open on the test database: on
    PostgreSQL its sessions idle in a transaction; on MySQL the InnoDB
    transactions of its other sessions; on SQLite 1 if another connection holds
    the write lock (a write of ours cannot start)."""
    if connection.vendor in ("postgresql", "mysql"):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND state LIKE 'idle in transaction%%'"
                if connection.vendor == "postgresql"
                else OPEN_TRANSACTIONS
            )
            return cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 0")
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except Exception:
            return 1
        cursor.execute("ROLLBACK")
        return 0


async def test_a_transaction_left_open_is_rolled_back_after_the_handler():
    communicator = WebsocketCommunicator(LeavesTransactionOpen.as_asgi(), "/")
    connected, _ = await communicator.connect()
    assert connected
    try:
        await communicator.send_json_to({"title": "left-open"})
        assert await communicator.receive_json_from(timeout=10) == {
            "in_transaction": True
        }
        # The socket is still open: its connection is back, rolled back.
        assert await oneloop.run_sync(open_transactions) == 0
    finally:
        await communicator.disconnect()
    assert await Book.objects.filter(title="left-open").acount() == 0
