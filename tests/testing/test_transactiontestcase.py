"""Django's ``TransactionTestCase`` on a oneloop project: writes are
committed, tasks use their own pooled connections (the async driver; an
in-memory SQLite database is shared instead), and the flush at the end of
each test still empties the tables."""

import asyncio

from django.db import connections
from django.test import TransactionTestCase

import oneloop
from oneloop.connections import pinned
from tests.testapp.models import Author


class CommittedDataTests(TransactionTestCase):
    async def _assert_clean_then_write(self):
        # Only an in-memory SQLite test database (one per connection) is
        # pinned; elsewhere every task has its own pooled connection.
        wrapper = connections["default"]
        in_memory = wrapper.vendor == "sqlite" and wrapper.is_in_memory_db()
        self.assertEqual(pinned("default") is not None, in_memory)
        self.assertEqual(await Author.objects.acount(), 0)
        await asyncio.gather(
            *(Author.objects.acreate(name=name) for name in ("Ann", "Bob", "Cid"))
        )

    async def test_child_tasks_commit_and_the_client_sees_them(self):
        await self._assert_clean_then_write()
        response = await self.async_client.get("/authors/")
        self.assertEqual(
            response.json(), {"names": ["Ann", "Bob", "Cid"], "in_bridge": True}
        )

    async def test_flushed_between_tests(self):
        await self._assert_clean_then_write()
        self.assertEqual(await Author.objects.acount(), 3)

    async def test_atomic_rolls_back_for_real(self):
        with self.assertRaises(ZeroDivisionError):
            async with oneloop.atomic():
                await Author.objects.acreate(name="Dora")
                1 / 0  # noqa: B018
        self.assertEqual(await Author.objects.acount(), 0)

    def test_sync_client_writes_are_seen_by_the_test(self):
        self.assertEqual(Author.objects.count(), 0)
        response = self.client.post(
            "/create/", {"name": "Eve"}, content_type="application/json"
        )
        self.assertEqual(response.status_code, 201)
        self.assertEqual(list(Author.objects.values_list("name", flat=True)), ["Eve"])
