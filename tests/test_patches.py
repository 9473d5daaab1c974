"""install()/uninstall(): every patch applied in one place and undone."""

import asyncio
import importlib
import threading

from asgiref.sync import AsyncToSync, SyncToAsync, async_to_sync
from asgiref.sync import sync_to_async as asgiref_sync_to_async
from django.core.mail import EmailMessage
from django.db import connections
from django.db.utils import ConnectionHandler

import oneloop
from oneloop import patches
from oneloop.bridge import current_scope
from oneloop.connections import TaskConnectionHandler


def _snapshot():
    return {
        "get_running_loop": importlib.import_module(
            "django.utils.asyncio"
        ).get_running_loop,
        "orm": [
            importlib.import_module(name).sync_to_async
            for name, _ in patches.ORM_MODULES
        ],
        "connections": connections.__class__,
        "async_to_sync": AsyncToSync.__dict__["__call__"],
        "sync_to_async": SyncToAsync.__dict__["__call__"],
        "asend": "asend" in EmailMessage.__dict__,
    }


def test_uninstall_restores_stock_django_and_install_reapplies():
    assert patches.installed()
    installed = _snapshot()
    try:
        oneloop.uninstall()
        stock = _snapshot()
        assert stock["get_running_loop"] is asyncio.get_running_loop
        assert all(fn is asgiref_sync_to_async for fn in stock["orm"])
        assert stock["connections"] is ConnectionHandler
        assert stock["async_to_sync"] is not installed["async_to_sync"]
        assert stock["sync_to_async"] is not installed["sync_to_async"]
        assert stock["asend"] is False
        oneloop.uninstall()  # idempotent
    finally:
        oneloop.install()
    assert _snapshot() == installed
    assert connections.__class__ is TaskConnectionHandler
    oneloop.install()  # idempotent
    assert _snapshot() == installed


def test_thread_sensitive_sync_to_async_under_async_to_sync_comes_back_to_the_task():
    # asgiref runs a thread-sensitive sync_to_async(f) on the sync thread that
    # called async_to_sync around it. When that caller is a bridge, f runs in
    # a bridge of the same task: same scope, so the same connections and
    # transaction. thread_sensitive=False still means a worker thread.
    def probe():
        return threading.get_ident(), current_scope()

    async def inner():
        return (
            await asgiref_sync_to_async(probe)(),
            await asgiref_sync_to_async(probe, thread_sensitive=False)(),
        )

    def outer():
        return async_to_sync(inner)(), current_scope()

    async def main():
        return await oneloop.run_sync(outer)

    (sensitive, insensitive), scope = asyncio.run(main())
    assert sensitive == (threading.get_ident(), scope)
    assert insensitive[0] != threading.get_ident()
    assert insensitive[1] is None
