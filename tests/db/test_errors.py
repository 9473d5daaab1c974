"""Misuse gets clear errors that say what to do."""

import asyncio

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.exceptions import SynchronousOnlyOperation
from django.db import OperationalError, connection, connections
from django.test import override_settings

import oneloop
from tests.testapp.models import Book


@pytest.mark.django_db(transaction=True)
async def test_sync_orm_from_plain_async_code_is_refused():
    with pytest.raises(SynchronousOnlyOperation):
        Book.objects.count()


async def test_await_outside_a_bridge_says_what_to_do():
    with pytest.raises(oneloop.MissingBridge) as info:
        oneloop.await_(asyncio.sleep(0))
    assert "run_sync" in str(info.value)


@pytest.mark.skipif(
    settings.DB == "sqlite", reason="the SQLite ENGINE has no pool to exhaust"
)
@pytest.mark.django_db(transaction=True, databases=["default", "tiny_pool"])
async def test_pool_exhaustion_names_alias_size_and_timeout():
    holding: asyncio.Queue[None] = asyncio.Queue()
    release = asyncio.Event()

    def hold():
        with connections["tiny_pool"].cursor() as cursor:
            cursor.execute("SELECT 1")
            holding.put_nowait(None)
            oneloop.await_(release.wait())

    async def holder():
        await oneloop.run_sync(hold)
        # Back to the pool now, not in a callback after the task ends.
        await oneloop.aclose_connections()

    holders = [asyncio.create_task(holder()) for _ in range(2)]
    for _ in holders:
        await holding.get()  # both connections of the pool are taken
    with pytest.raises(OperationalError) as info:
        await Book.objects.using("tiny_pool").acount()
    message = str(info.value)
    assert "'tiny_pool'" in message
    # PostgreSQL's pools share the process's budget for the alias.
    shared = connection.vendor == "postgresql"
    assert ("holds the 2 connections" if shared else "all 2 connections") in message
    assert "0.3 s" in message
    assert "max_size" in message
    release.set()
    await asyncio.gather(*holders)
    assert await Book.objects.using("tiny_pool").acount() == 0  # recovered


@pytest.mark.parametrize(
    ("pool", "fragment"),
    [
        ("big", "is 'big'"),
        ({"max_size": 0}, "['max_size'] is 0"),
        ({"min_size": 5, "max_size": 2}, "min_size=5 and max_size=2"),
        ({"timeout": -1}, "['timeout'] is -1"),
        ({"maxsize": 3}, "unknown keys: maxsize"),
    ],
)
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_wrong_pool_option_is_a_system_check_error(pool, fragment):
    db = {**connection.settings_dict, "OPTIONS": {"pool": pool}}
    with override_settings(DATABASES={"default": db}):
        errors = [e for e in run_checks() if e.id == "oneloop.E001"]
    assert errors, "no oneloop.E001 error"
    assert any(fragment in e.msg for e in errors), [e.msg for e in errors]


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_stock_engine_is_a_warning():
    stock = {**connection.settings_dict, "ENGINE": "django.db.backends.sqlite3"}
    with override_settings(DATABASES={"default": stock}):
        warnings = [e for e in run_checks() if e.id == "oneloop.W001"]
    assert warnings and "blocks the event loop" in warnings[0].msg


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.parametrize(
    "engine",
    [
        "oneloop.db.backends.postgresql",
        "oneloop.db.backends.mysql",
        "oneloop.db.backends.sqlite3",
    ],
)
def test_oneloop_engines_are_no_warning(engine):
    db = {**connection.settings_dict, "ENGINE": engine, "OPTIONS": {}}
    with override_settings(DATABASES={"default": db}):
        assert not [e for e in run_checks() if e.id == "oneloop.W001"]
