"""Django's ``TestCase`` on a oneloop project: every task of a test runs
inside the test's transaction, so it sees ``setUpTestData`` and nothing it
writes outlives the test."""

import asyncio
import threading

from django.db import connections
from django.test import TestCase

import oneloop
from oneloop.connections import pinned
from tests.testapp.models import Author, Book


class Boom(Exception):
    pass


class SetUpTestDataTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.ann = Author.objects.create(name="Ann")
        Author.objects.create(name="Bob")
        Book.objects.create(title="Emma", author=cls.ann)

    async def test_async_test_sees_setup_data(self):
        self.assertEqual(await Author.objects.acount(), 2)
        ann = await Author.objects.aget(name="Ann")
        self.assertEqual(ann.pk, self.ann.pk)

    async def test_async_test_on_another_thread_uses_the_tests_connection(self):
        # Django runs async test methods on a new loop in another thread; in
        # bridges and directly on that loop the test's connection is used.
        self.assertIsNot(threading.current_thread(), threading.main_thread())
        test_wrapper = pinned("default")
        self.assertIs(
            await oneloop.run_sync(lambda: connections["default"]), test_wrapper
        )
        self.assertIs(connections["default"], test_wrapper)

    async def test_async_client_sync_view_sees_setup_data(self):
        response = await self.async_client.get("/authors/")
        self.assertEqual(response.json(), {"names": ["Ann", "Bob"], "in_bridge": True})

    async def test_async_client_async_view_sees_setup_data(self):
        response = await self.async_client.get("/authors-async/")
        self.assertEqual(response.json(), {"names": ["Ann", "Bob"]})

    def test_sync_client_runs_the_view_in_a_bridge(self):
        response = self.client.get("/authors/")
        self.assertEqual(response.json(), {"names": ["Ann", "Bob"], "in_bridge": True})

    async def test_gather_of_three_queries_sees_test_data(self):
        authors, ann, books = await asyncio.gather(
            Author.objects.acount(),
            Author.objects.filter(name="Ann").aexists(),
            Book.objects.filter(author__name="Ann").acount(),
        )
        self.assertEqual((authors, ann, books), (2, True, 1))

    async def test_oneloop_gather_in_a_sync_view(self):
        response = await self.async_client.get("/fan-out/")
        self.assertEqual(response.json(), {"authors": 2, "ann": 1, "books": 1})

    async def test_assert_num_queries_counts_child_tasks(self):
        with self.assertNumQueries(3):
            names = await asyncio.gather(
                *(
                    asyncio.create_task(self._name(pk))
                    for pk in (self.ann.pk, self.ann.pk, self.ann.pk)
                )
            )
        self.assertEqual(names, ["Ann", "Ann", "Ann"])

    @staticmethod
    async def _name(pk):
        return (await Author.objects.aget(pk=pk)).name

    async def test_assert_num_queries_counts_the_test_clients_request(self):
        # The view runs three queries at once in child tasks of its request.
        with self.assertNumQueries(3):
            await self.async_client.get("/fan-out/")

    def test_assert_num_queries_in_a_sync_test_with_the_sync_client(self):
        with self.assertNumQueries(3):
            self.client.get("/fan-out/")

    async def test_atomic_block_rolled_back(self):
        with self.assertRaises(Boom):
            async with oneloop.atomic():
                await Author.objects.acreate(name="Cid")
                self.assertTrue(await Author.objects.filter(name="Cid").aexists())
                raise Boom
        self.assertFalse(await Author.objects.filter(name="Cid").aexists())
        self.assertEqual(await Author.objects.acount(), 2)

    async def test_override_settings_reaches_the_view(self):
        with self.settings(TESTING_GREETING="hello"):
            response = await self.async_client.get("/setting/")
        self.assertEqual(response.content, b"hello")
        response = await self.async_client.get("/setting/")
        self.assertEqual(response.content, b"unset")


class IsolationTests(TestCase):
    """Each test writes a row through a different task; whichever runs
    second proves the first one's row was rolled back."""

    async def _assert_clean_then_write(self, write):
        self.assertEqual(await Author.objects.acount(), 0)
        await write()
        self.assertEqual([a.name async for a in Author.objects.all()], ["Dora"])

    async def test_row_written_by_the_test_body(self):
        await self._assert_clean_then_write(lambda: Author.objects.acreate(name="Dora"))

    async def test_row_written_by_a_request(self):
        async def write():
            response = await self.async_client.post(
                "/create/", {"name": "Dora"}, content_type="application/json"
            )
            self.assertEqual(response.status_code, 201)

        await self._assert_clean_then_write(write)

    async def test_row_written_by_a_child_task(self):
        async def write():
            await asyncio.create_task(Author.objects.acreate(name="Dora"))

        await self._assert_clean_then_write(write)

    def test_row_written_by_the_sync_client(self):
        self.assertEqual(Author.objects.count(), 0)
        self.client.post("/create/", {"name": "Dora"}, content_type="application/json")
        self.assertEqual(list(Author.objects.values_list("name", flat=True)), ["Dora"])


class PinnedConnectionSharingTests(TestCase):
    """The pinned connection is shared with another thread only once a task
    on another thread uses it: until then it is the wrapper Django made,
    and Django's own thread-sharing rules and counts hold (its
    ``backends.tests.ThreadTests``)."""

    def test_shared_when_another_thread_uses_it(self):
        wrapper = connections["default"]
        self.assertIs(pinned("default"), wrapper)
        self.assertIs(wrapper.allow_thread_sharing, False)

        used = []

        def another_thread_with_a_loop():
            async def request():
                used.append(await oneloop.run_sync(lambda: connections["default"]))

            asyncio.run(request())

        thread = threading.Thread(target=another_thread_with_a_loop)
        thread.start()
        thread.join()
        self.assertEqual(used, [wrapper])
        self.assertIs(wrapper.allow_thread_sharing, True)
