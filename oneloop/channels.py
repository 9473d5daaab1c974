"""Channels on the loop: consumers' database work in bridge greenlets.

Stock Channels runs every handler of a sync consumer (``SyncConsumer``,
``WebsocketConsumer``, ``JsonWebsocketConsumer``) through
``database_sync_to_async``, in asgiref's one thread-sensitive thread: one
handler waiting on the database stalls every other socket of the process.
With oneloop installed, ``PATCHES`` change three seams of Channels:

* ``DatabaseSyncToAsync.__call__``: the function runs in a bridge greenlet of
  the calling task (a consumer's task: one per socket), then the task's
  connections outside ``atomic`` go back to their pools, which is what
  Channels' ``close_old_connections`` around each call is for. This covers
  every handler of a sync consumer, the session and user lookups of
  ``AuthMiddlewareStack`` (``channels.auth.get_user``, ``login``,
  ``logout``) and user code decorated with ``database_sync_to_async``.
* ``aclose_old_connections`` (called by async consumers before each handler
  and on disconnect): gives back the task's connections on the loop instead
  of closing a worker thread's.
* ``AsyncConsumer.dispatch``: also gives them back after each handler, so an
  async consumer that uses the ORM's ``a*()`` methods holds a connection
  only while a handler runs.

``self.send()`` and ``async_to_sync(self.channel_layer.group_send)(...)`` in
a sync handler need nothing more: inside a bridge, asgiref's
``async_to_sync`` awaits on the loop (see ``oneloop.patches``).

Like the ORM's ``a*()`` methods, these take Channels' stock path (a thread)
while any database alias uses a stock ENGINE, or with
``ONELOOP = {"SYNC_VIEWS": "thread"}``. Applied when ``channels`` is first
imported (``oneloop.patches.LAZY_ADAPTERS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import SyncToAsync
from channels import consumer, db
from channels.generic import websocket

from oneloop.bridge import run_sync, run_sync_shielded, task_scope
from oneloop.connections import close_idle_connections
from oneloop.patches import sync_code_on_loop

__all__ = ["PATCHES", "aclose_old_connections"]

_stock_aclose_old_connections = db.aclose_old_connections
_stock_dispatch = consumer.AsyncConsumer.dispatch


def _call_then_release(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """In the bridge: ``func``, then this task's idle connections go back."""
    try:
        return func(*args, **kwargs)
    finally:
        close_idle_connections()


async def _database_sync_to_async_call(
    self: db.DatabaseSyncToAsync, *args: Any, **kwargs: Any
) -> Any:
    """``database_sync_to_async(f)(...)``: ``f`` in a bridge greenlet of the
    calling task, no thread; its connections go back when it returns."""
    __traceback_hide__ = True  # read by Django's debug page
    if not sync_code_on_loop():
        return await SyncToAsync.__call__(self, *args, **kwargs)
    return await run_sync(_call_then_release, self.func, args, kwargs)


async def _release() -> None:
    scope = task_scope()
    if scope is not None and scope.connections:
        await run_sync_shielded(close_idle_connections)


async def aclose_old_connections() -> None:
    """Channels' ``aclose_old_connections`` on the loop: the calling task's
    connections outside ``atomic`` go back to their pools."""
    if not sync_code_on_loop():
        await _stock_aclose_old_connections()
        return
    await _release()


async def _async_consumer_dispatch(
    self: consumer.AsyncConsumer, message: dict[str, Any]
) -> None:
    """Channels' ``AsyncConsumer.dispatch``, then the connections the handler
    used go back to their pools (stock Channels gives them back before the
    next handler, so a quiet socket would hold one)."""
    try:
        await _stock_dispatch(self, message)
    finally:
        if sync_code_on_loop():
            await _release()


PATCHES: list[tuple[Any, str, Any]] = [
    (db.DatabaseSyncToAsync, "__call__", _database_sync_to_async_call),
    (db, "aclose_old_connections", aclose_old_connections),
    (consumer, "aclose_old_connections", aclose_old_connections),
    (websocket, "aclose_old_connections", aclose_old_connections),
    (consumer.AsyncConsumer, "dispatch", _async_consumer_dispatch),
]
