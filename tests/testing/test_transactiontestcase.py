"""Django's ``TransactionTestCase`` on a oneloop project: writes are
committed, tasks use their own pooled connections (the async driver; an
in-memory SQLite database is shared instead), and the flush at the end of
each test still empties the tables."""

import asyncio
import unittest

from django.db import connections
from django.test import TransactionTestCase

import oneloop
from oneloop.connections import pinned
from oneloop.test.testcases import _memory_pins
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


class SkippedClassReleasesItsPinTests(TransactionTestCase):
    """Django runs a ``TransactionTestCase``'s first fixture setup in
    ``setUpClass``; when that test is skipped no fixture teardown follows.
    The pin of an in-memory database taken there must still end with the
    class, or every later async test on a loop would get that connection."""

    databases = {"default", "memory"}

    def test_nothing_stays_pinned_after_an_all_skipped_class(self):
        class AllSkipped(TransactionTestCase):
            databases = {"memory"}

            @unittest.skip("the class is run only for its set-up")
            def test_skipped(self):
                pass

        self.assertIsNotNone(pinned("memory"))  # this test's own
        result = unittest.TestResult()
        unittest.TestSuite([AllSkipped("test_skipped")]).run(result)
        self.assertEqual((len(result.skipped), result.errors), (1, []))
        self.assertNotIn(AllSkipped, _memory_pins)
        self.assertIsNotNone(pinned("memory"))
