"""The middleware chain oneloop builds on the loop, against what Django's
own does: an async response's ``render()``, Django's debug lines, and the
stock chain for a project on Django's own ENGINEs."""

from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpResponse
from django.test import SimpleTestCase, override_settings
from django.utils.decorators import async_only_middleware

from tests.testing.conftest import django_engines

HERE = __name__


class CatchesErrors:
    """Sync middleware whose exception hook is async."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    async def process_exception(self, request, exception):
        return HttpResponse(f"caught: {exception}")


@async_only_middleware
def async_only(get_response):
    async def middleware(request):
        return await get_response(request)

    return middleware


class NotUsed:
    def __init__(self, get_response):
        raise MiddlewareNotUsed


@override_settings(MIDDLEWARE=[f"{HERE}.CatchesErrors"])
class AsyncRenderTests(SimpleTestCase):
    """Django's async chain awaits a coroutine ``render()`` and passes what it
    raises to the exception middleware; oneloop's sync chain does the same."""

    async def test_async_client(self):
        response = await self.async_client.get("/render-fails/")
        self.assertEqual(response.content, b"caught: render failed")

    def test_sync_client(self):
        response = self.client.get("/render-fails/")
        self.assertEqual(response.content, b"caught: render failed")


@override_settings(DEBUG=True)
class DebugLinesTests(SimpleTestCase):
    """The lines Django logs while it builds the chain, where oneloop makes
    the same adapter or skips the same middleware."""

    adapted = f"Synchronous handler adapted for middleware {HERE}.async_only."

    @override_settings(MIDDLEWARE=[f"{HERE}.async_only"])
    async def test_async_only_middleware_async_client(self):
        with self.assertLogs("django.request", "DEBUG") as logs:
            response = await self.async_client.get("/setting/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(logs.records[0].getMessage(), self.adapted)

    @override_settings(MIDDLEWARE=[f"{HERE}.async_only"])
    def test_async_only_middleware_sync_client(self):
        with self.assertLogs("django.request", "DEBUG") as logs:
            response = self.client.get("/setting/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(logs.records[0].getMessage(), self.adapted)

    @override_settings(MIDDLEWARE=[f"{HERE}.NotUsed"])
    async def test_middleware_not_used_without_a_message(self):
        with self.assertLogs("django.request", "DEBUG") as logs:
            await self.async_client.get("/setting/")
        self.assertEqual(
            logs.records[0].getMessage(), f"MiddlewareNotUsed: '{HERE}.NotUsed'"
        )


class StockEngineTests(SimpleTestCase):
    """A project that installs oneloop on Django's own ENGINEs (for its
    template, form or mail adapters) tests as stock Django: the clients run
    views the stock way, not in bridge greenlets."""

    def test_oneloop_engines_serve_views_in_a_bridge(self):
        self.assertEqual(self.client.get("/where/").json(), {"in_bridge": True})

    def test_django_engine_serves_views_as_stock(self):
        with django_engines():
            response = self.client_class().get("/where/")
        self.assertEqual(response.json(), {"in_bridge": False})

    async def test_django_engine_async_client(self):
        with django_engines():
            response = await self.async_client_class().get("/where/")
        self.assertEqual(response.json(), {"in_bridge": False})
