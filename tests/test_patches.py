"""install()/uninstall(): every patch applied in one place and undone."""

import asyncio
import importlib
import re
import threading
from pathlib import Path
from types import ModuleType

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync, async_to_sync
from asgiref.sync import sync_to_async as asgiref_sync_to_async
from channels import consumer as channels_consumer
from channels import db as channels_db
from channels.generic import websocket as channels_websocket
from django.contrib.auth.backends import BaseBackend
from django.core.mail import EmailMessage
from django.db import connections
from django.db.models import QuerySet
from django.db.utils import ConnectionHandler
from django.dispatch import Signal
from django.test import override_settings

import oneloop
from oneloop import patches
from oneloop.bridge import current_scope
from oneloop.connections import TaskConnectionHandler
from tests.testapp.models import Author


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
        "database_sync_to_async": channels_db.DatabaseSyncToAsync.__dict__.get(
            "__call__"
        ),
        "aclose_old_connections": [
            module.aclose_old_connections
            for module in (channels_db, channels_consumer, channels_websocket)
        ],
        "consumer_dispatch": channels_consumer.AsyncConsumer.__dict__["dispatch"],
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
        # Channels: DatabaseSyncToAsync is SyncToAsync's again, and every
        # module sees Channels' own aclose_old_connections.
        assert stock["database_sync_to_async"] is None
        assert (
            stock["aclose_old_connections"] == [channels_db.aclose_old_connections] * 3
        )
        assert stock["aclose_old_connections"][0].__module__ == "channels.db"
        assert stock["consumer_dispatch"] is not installed["consumer_dispatch"]
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


# -- SYNC_VIEWS="thread" is stock Django ---------------------------------------


def _where() -> tuple[int, bool]:
    """The thread sync code runs on, and whether it runs in a bridge."""
    return threading.get_ident(), oneloop.in_bridge()


class _Backend(BaseBackend):
    def authenticate(self, request, **credentials):
        return _where()


async def _a_methods_run_where() -> dict[str, tuple[int, bool]]:
    """Where Django runs the sync code behind an ORM ``a*()`` method, a sync
    receiver of ``Signal.asend`` and an auth backend's ``aauthenticate``."""
    signal = Signal()

    def receiver(**kwargs):
        return _where()

    signal.connect(receiver, weak=False)
    original_count = QuerySet.count
    QuerySet.count = lambda self: _where()  # what acount() calls
    try:
        counted = await Author.objects.acount()
    finally:
        QuerySet.count = original_count
    [(_, received)] = await signal.asend(sender=None)
    return {
        "orm": counted,
        "signal": received,
        "auth": await _Backend().aauthenticate(None),
    }


@pytest.mark.parametrize("sync_views", ["greenlet", "thread"])
async def test_a_methods_bridge_only_when_sync_views_is_greenlet(sync_views):
    with override_settings(ONELOOP={"SYNC_VIEWS": sync_views}):
        ran = await _a_methods_run_where()
    loop_thread = threading.get_ident()
    for what, (thread, bridged) in ran.items():
        if sync_views == "greenlet":
            assert (thread, bridged) == (loop_thread, True), what
        else:  # stock Django: a thread hop, no bridge
            assert thread != loop_thread, what
            assert not bridged, what


# -- docs/patches.md lists every patch -----------------------------------------

PATCHES_PAGE = Path(__file__).resolve().parents[1] / "docs" / "patches.md"
CODE = re.compile(r"`([^`]+)`")
NAME = re.compile(r"[A-Za-z_][\w.]*")


def _table() -> list[tuple[str, set[str], set[str]]]:
    """(row number, modules, attributes) of each row of the page's table:
    the code names of its Module and Attribute columns."""
    rows = []
    for line in PATCHES_PAGE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            modules, attributes = (
                {name for name in CODE.findall(cell) if NAME.fullmatch(name)}
                for cell in cells[1:3]
            )
            rows.append((cells[0], modules, attributes))
    return rows


def _names(owner, attribute, modules):
    """How the table names a patch: (module, attribute as written)."""
    if isinstance(owner, ModuleType):
        return {(owner.__name__, attribute)}
    if isinstance(owner, type):
        return {(owner.__module__, f"{owner.__qualname__}.{attribute}")}
    # An object such as django.db.connections: named by its module global.
    return {
        (module, f"{name}.{attribute}")
        for module in modules
        for name, value in vars(importlib.import_module(module)).items()
        if value is owner
    }


def test_patches_page_lists_every_patch_install_applies():
    assert patches.installed()
    rows = _table()
    assert rows, "no table rows found in docs/patches.md"
    modules = {module for _, row_modules, _ in rows for module in row_modules}
    used: set[tuple[str, str, str]] = set()  # (row, module, attribute)
    missing = []
    for owner, attribute, _ in patches._applied:
        names = _names(owner, attribute, modules)
        found = {
            (number, module, name)
            for number, row_modules, row_attributes in rows
            for module, name in names
            if module in row_modules and name in row_attributes
        }
        if not found:
            missing.append(sorted(names) or f"{owner!r}.{attribute}")
        used |= found
    assert not missing, f"docs/patches.md has no row for: {missing}"
    # And no row names something install() does not patch.
    for number, row_modules, row_attributes in rows:
        assert row_modules == {m for n, m, _ in used if n == number}, number
        assert row_attributes == {a for n, _, a in used if n == number}, number
