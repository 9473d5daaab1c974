"""``LiveServerTestCase`` reached over real HTTP: the project is served by
oneloop's ASGI handler on uvicorn, in a thread with its own loop."""

import json
import tempfile
import threading
import urllib.request
from pathlib import Path

import httpx
from django.contrib.staticfiles.testing import StaticLiveServerTestCase
from django.core.exceptions import ImproperlyConfigured
from django.test import LiveServerTestCase, SimpleTestCase, override_settings
from django.test import testcases as django_testcases

import oneloop.test
from tests.testapp.models import Author
from tests.testing.conftest import django_engines


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


class LiveServerTests(LiveServerTestCase):
    """Django's own class: after install it serves with oneloop."""

    def test_served_by_the_oneloop_handler(self):
        self.assertIsInstance(self.server_thread, oneloop.test.LiveServerThread)
        Author.objects.create(name="Ann")
        body = _get(f"{self.live_server_url}/authors/")
        self.assertEqual(body, {"names": ["Ann"], "in_bridge": True})

    def test_rows_written_by_the_server_are_seen_by_the_test(self):
        self.assertEqual(Author.objects.count(), 0)
        with httpx.Client(base_url=self.live_server_url, timeout=10) as client:
            created = client.post("/create/", json={"name": "Bob"})
            self.assertEqual(created.status_code, 201)
            # Several requests at once: each is its own task on the server.
            threads = [
                threading.Thread(
                    target=_get, args=(f"{self.live_server_url}/fan-out/",)
                )
                for _ in range(3)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            fan_out = client.get("/fan-out/").json()
        self.assertEqual(fan_out, {"authors": 1, "ann": 0, "books": 0})
        self.assertEqual(Author.objects.get().name, "Bob")

    async def test_async_test_and_async_view(self):
        await Author.objects.acreate(name="Cid")
        async with httpx.AsyncClient(base_url=self.live_server_url) as client:
            response = await client.get("/authors-async/")
        self.assertEqual(response.json(), {"names": ["Cid"]})


class LiveServerFilesTests(LiveServerTestCase):
    """The files Django's live server serves besides the project: MEDIA_URL
    from MEDIA_ROOT (and STATIC_URL from STATIC_ROOT), before the project's
    URLs, which still get what the files handlers pass on."""

    @classmethod
    def setUpClass(cls):
        media = cls.enterClassContext(tempfile.TemporaryDirectory())
        Path(media, "hello.txt").write_text("from MEDIA_ROOT")
        cls.enterClassContext(override_settings(MEDIA_URL="/media/", MEDIA_ROOT=media))
        super().setUpClass()

    def test_media_file(self):
        url = f"{self.live_server_url}/media/hello.txt"
        with urllib.request.urlopen(url, timeout=10) as response:
            self.assertEqual(response.read(), b"from MEDIA_ROOT")

    def test_missing_media_file_is_a_404(self):
        with httpx.Client(base_url=self.live_server_url, timeout=10) as client:
            self.assertEqual(client.get("/media/absent.txt").status_code, 404)
            self.assertEqual(client.get("/authors/").json()["names"], [])


class StaticLiveServerSettingsTests(StaticLiveServerTestCase):
    """As Django's live server does, oneloop's builds the test case's static
    files handler, which checks its settings: without STATIC_URL the class
    set-up fails with Django's own error (Django's suite relies on it)."""

    available_apps: list[str] = []

    @classmethod
    def setUpClass(cls):
        cls.error = None
        with override_settings(STATIC_URL=None):
            try:
                super().setUpClass()
            except ImproperlyConfigured as exc:
                cls.error = exc
            # Inside the override: the cleanups restore settings it changed.
            cls.doClassCleanups()

    @classmethod
    def tearDownClass(cls):
        pass  # setUpClass cleaned up after itself

    def test_static_url_is_checked(self):
        self.assertIsInstance(self.error, ImproperlyConfigured)


class _ServerBuiltBySubclass(django_testcases.LiveServerThread):
    def _create_server(self, connections_override=None):
        raise RuntimeError("built by the subclass")


class CustomisedWSGIServerTests(SimpleTestCase):
    """A thread class that builds Django's WSGI server itself (Django's hook
    ``_create_server()``) gets Django's WSGI live server thread, so its hook
    runs: uvicorn cannot stand in for a server it customises."""

    def test_the_subclass_hook_runs(self):
        thread = _ServerBuiltBySubclass(
            "localhost", django_testcases._StaticFilesHandler
        )
        thread.start()
        thread.join(10)
        self.assertIsInstance(thread.error, RuntimeError)


class StockEngineLiveServerTests(SimpleTestCase):
    """On Django's own ENGINEs the live server is Django's WSGI one, as the
    test clients are Django's: the project tests as stock Django does."""

    def test_django_engine_gets_djangos_live_server(self):
        with django_engines():
            thread = django_testcases.LiveServerThread(
                "localhost", django_testcases._StaticFilesHandler
            )
        self.assertTrue(thread._stock)

    def test_oneloop_engines_get_the_oneloop_live_server(self):
        thread = django_testcases.LiveServerThread(
            "localhost", django_testcases._StaticFilesHandler
        )
        self.assertFalse(thread._stock)
