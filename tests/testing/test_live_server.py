"""``LiveServerTestCase`` reached over real HTTP: the project is served by
oneloop's ASGI handler on uvicorn, in a thread with its own loop."""

import json
import threading
import urllib.request

import httpx
from django.test import LiveServerTestCase

import oneloop.test
from tests.testapp.models import Author


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
