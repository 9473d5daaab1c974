"""Middleware of the test project.

``FirstMiddleware``, ``SecondMiddleware`` and ``ThirdMiddleware`` are plain
``MiddlewareMixin`` classes (sync hooks): each records the thread its hooks
ran on, so the tests can prove they ran on the loop thread.
``async_only_middleware`` is async-only: under oneloop it is awaited on the
loop from the sync chain. ``TimezoneMiddleware`` activates the time zone kept
in the session.
"""

import threading
import zoneinfo

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin


class _ThreadRecorder(MiddlewareMixin):
    label = ""

    def process_request(self, request):
        request.mw_threads = getattr(request, "mw_threads", {})
        request.mw_threads[f"{self.label}.process_request"] = threading.get_ident()

    def process_view(self, request, view_func, view_args, view_kwargs):
        request.mw_threads[f"{self.label}.process_view"] = threading.get_ident()

    def process_response(self, request, response):
        response.headers[f"X-{self.label}-Thread"] = str(threading.get_ident())
        return response


class FirstMiddleware(_ThreadRecorder):
    label = "First"


class SecondMiddleware(_ThreadRecorder):
    label = "Second"


class ThirdMiddleware(_ThreadRecorder):
    label = "Third"


def async_only_middleware(get_response):
    """An async-only middleware: records its thread and the response's."""
    if not iscoroutinefunction(get_response):
        raise RuntimeError("async_only_middleware needs an async get_response")

    async def middleware(request):
        request.async_mw_thread = threading.get_ident()
        response = await get_response(request)
        response.headers["X-Async-Thread"] = str(threading.get_ident())
        return response

    markcoroutinefunction(middleware)
    return middleware


async_only_middleware.sync_capable = False
async_only_middleware.async_capable = True


class TimezoneMiddleware(MiddlewareMixin):
    """Activate the time zone the logged-in user chose (kept in the session)."""

    def process_request(self, request):
        name = request.session.get("tz")
        if name:
            timezone.activate(zoneinfo.ZoneInfo(name))
        else:
            timezone.deactivate()
