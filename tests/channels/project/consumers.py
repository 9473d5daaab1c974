"""Consumers written as the Channels tutorial teaches (sync, plus one async),
each reporting where it ran so the tests can check it."""

import asyncio
import json
import threading

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import (
    AsyncJsonWebsocketConsumer,
    JsonWebsocketConsumer,
    WebsocketConsumer,
)
from django.db import connection, transaction

from oneloop import in_bridge, run_sync
from tests.sleeping_sql import sleep_sql
from tests.testapp.models import Book


def where() -> dict:
    """Where the calling code runs: on the thread of the event loop or not,
    in a bridge or not; the names of the process's threads (the SQLite
    ENGINE's own per-connection threads apart: they exist by design) and
    how many of those there are (one per open SQLite connection)."""
    names = [t.name for t in threading.enumerate()]
    try:
        asyncio.get_running_loop()
        on_loop_thread = True
    except RuntimeError:  # a worker thread, as stock Channels uses
        on_loop_thread = False
    return {
        "on_loop_thread": on_loop_thread,
        "in_bridge": in_bridge(),
        "threads": sorted(n for n in names if not n.startswith("oneloop-sqlite")),
        "sqlite_threads": sum(n.startswith("oneloop-sqlite") for n in names),
    }


def sleep_in_database(seconds: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sleep_sql(connection.vendor), [seconds])


class QueryConsumer(WebsocketConsumer):
    """Each text frame {"sleep": s} runs one query that waits s seconds."""

    def receive(self, text_data=None, bytes_data=None):
        request = json.loads(text_data)
        sleep_in_database(request.get("sleep", 0))
        self.send(json.dumps({"id": request.get("id"), **where()}))


class UserConsumer(JsonWebsocketConsumer):
    """Replies with the scope's user and session, and stores per-user data."""

    def connect(self):
        self.accept()
        self.send_json({"event": "connected", "user": self.scope["user"].username})

    def receive_json(self, content, **kwargs):
        user = self.scope["user"]
        if "note" in content:
            self.scope["session"]["note"] = content["note"]
            self.scope["session"].save()
            Book.objects.create(title=f"{user.username}:{content['note']}")
        sleep_in_database(content.get("sleep", 0))
        self.send_json(
            {
                "user": user.username,
                "session_user": self.scope["session"].get("_auth_user_id"),
                "note": self.scope["session"].get("note"),
                "books": sorted(
                    Book.objects.filter(
                        title__startswith=f"{user.username}:"
                    ).values_list("title", flat=True)
                ),
            }
        )


class TransactionConsumer(WebsocketConsumer):
    """Writes a row and waits inside one transaction, then replies."""

    def receive(self, text_data=None, bytes_data=None):
        request = json.loads(text_data)
        with transaction.atomic():
            Book.objects.create(title=request["title"])
            sleep_in_database(request["sleep"])
            self.send(json.dumps({"written": request["title"]}))


class FailingConsumer(WebsocketConsumer):
    """Raises inside a transaction on every frame."""

    def receive(self, text_data=None, bytes_data=None):
        with transaction.atomic():
            Book.objects.create(title=text_data)
            raise RuntimeError(f"consumer failed on {text_data!r}")


class GroupConsumer(JsonWebsocketConsumer):
    """Joins the group in the URL; relays the group's "news.message" events."""

    def connect(self):
        self.group = self.scope["url_route"]["kwargs"]["group"]
        async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
        self.accept()

    def disconnect(self, code):
        async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)

    def receive_json(self, content, **kwargs):
        # A sync handler sending to its own group through the layer.
        async_to_sync(self.channel_layer.group_send)(
            self.group, {"type": "news.message", "text": content["text"], **where()}
        )

    def news_message(self, event):
        self.send_json({"text": event["text"], "sender": event, "relay": where()})


@database_sync_to_async
def count_and_sleep(seconds: float) -> dict:
    sleep_in_database(seconds)
    return {"books": Book.objects.count(), **where()}


class AsyncDatabaseConsumer(AsyncJsonWebsocketConsumer):
    """Stock Channels' async way: each query through database_sync_to_async."""

    async def receive_json(self, content, **kwargs):
        await database_sync_to_async(sleep_in_database)(content.get("sleep", 0))
        await self.send_json({"id": content.get("id")})


class AsyncQueryConsumer(AsyncJsonWebsocketConsumer):
    """The async way: the ORM's a*() methods, run_sync and
    database_sync_to_async."""

    async def receive_json(self, content, **kwargs):
        books = await Book.objects.acount()
        await run_sync(sleep_in_database, content.get("sleep", 0))
        helper = await count_and_sleep(0)
        await self.send_json({"books": books, "helper": helper, **where()})
