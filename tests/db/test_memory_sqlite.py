"""An in-memory SQLite database is one database for every task of a loop."""

import asyncio

import pytest

from tests.testapp.models import Book


@pytest.mark.django_db(transaction=True, databases=["default", "memory"])
async def test_in_memory_sqlite_is_one_database_for_every_task():
    books = Book.objects.using("memory")
    await asyncio.gather(*(books.acreate(title="m", n=i) for i in range(30)))
    assert await books.acount() == 30
