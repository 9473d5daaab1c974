"""install()/uninstall(): every patch applied in one place and undone."""

import asyncio
import importlib

from asgiref.sync import AsyncToSync
from asgiref.sync import sync_to_async as asgiref_sync_to_async
from django.core.mail import EmailMessage
from django.db import connections
from django.db.utils import ConnectionHandler

import oneloop
from oneloop import patches
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
        assert stock["asend"] is False
        oneloop.uninstall()  # idempotent
    finally:
        oneloop.install()
    assert _snapshot() == installed
    assert connections.__class__ is TaskConnectionHandler
    oneloop.install()  # idempotent
    assert _snapshot() == installed
