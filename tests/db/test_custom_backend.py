"""A project's own backend that subclasses a oneloop ENGINE keeps the loop
path: its a*() calls run in a bridge on the loop thread, on the async driver,
and the system checks do not warn about it (``oneloop.W001``)."""

import pytest
from django.core.checks import run_checks
from django.db import connections
from django.test import override_settings

from oneloop.connections import _shares_one_connection
from tests.custom_backend import CountingCursors
from tests.db.test_concurrency import assert_on_the_loop_thread
from tests.testapp.models import Author, Book

CUSTOM = connections.settings["custom"]


def test_the_alias_uses_the_project_backend():
    assert CUSTOM["ENGINE"].startswith("tests.custom_backend.")
    assert isinstance(connections["custom"], CountingCursors)


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_no_w001_for_a_subclassed_engine():
    with override_settings(DATABASES={"default": CUSTOM}):
        warnings = [e for e in run_checks() if e.id == "oneloop.W001"]
    assert not warnings, [e.msg for e in warnings]


@pytest.mark.django_db(transaction=True, databases=["default", "custom"])
async def test_a_methods_on_a_subclassed_engine_run_in_a_bridge(
    query_threads, driver_threads, new_threads
):
    created = CountingCursors.cursors_created
    author = await Author.objects.using("custom").acreate(name="Ann")
    books = Book.objects.using("custom")
    await books.abulk_create([Book(title="t", n=i, author=author) for i in range(3)])
    assert await books.acount() == 3
    assert [b.n async for b in books.order_by("n")] == [0, 1, 2]
    assert await books.filter(n=1).aupdate(title="u") == 1
    assert (await books.aget(n=1)).title == "u"
    assert CountingCursors.cursors_created > created
    assert_on_the_loop_thread(query_threads, driver_threads, new_threads)


def test_in_memory_sqlite_on_a_subclassed_engine_is_shared():
    """One connection per loop for an in-memory database, whatever the
    ENGINE's name, as long as its backend is SQLite."""
    memory = {"ENGINE": "tests.custom_backend.sqlite3", "NAME": ":memory:"}
    assert _shares_one_connection(memory)
    assert not _shares_one_connection(
        {**memory, "ENGINE": "tests.custom_backend.postgresql"}
    )
