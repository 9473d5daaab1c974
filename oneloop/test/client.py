"""Django's test clients, driving oneloop's ASGI handler.

``django.test.Client`` and ``django.test.AsyncClient`` call their handler
in-process. Stock Django's handlers run the middleware chain the stock way:
``AsyncClient`` in async mode, with a thread hop for every sync view and
``MiddlewareMixin`` hook. A oneloop project serves requests differently in
production, so its tests should too: with these handlers every request runs
as oneloop's ASGI handler runs it, in its own task, with the sync middleware
chain and sync views in one bridge greenlet on the loop, and its database
connections go back to their pools when the response is ready.

``oneloop.install()`` makes Django's clients use them (``PATCHES`` below);
``ONELOOP = {"SYNC_VIEWS": "thread"}`` keeps Django's stock handlers, as it
keeps the stock behaviour of the ASGI handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from django.core.handlers import base
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import LimitedStream
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponseBase
from django.test import client as django_client

from oneloop import conf
from oneloop.asgi import ASGIHandler
from oneloop.bridge import await_, run_sync
from oneloop.connections import aclose_connections

__all__ = ["PATCHES", "AsyncClient", "AsyncClientHandler", "Client", "ClientHandler"]

T = TypeVar("T")


async def _in_request_task(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` in a task of its own, as a server runs each request: the
    request gets its own scope (its own connections, outside ``atomic`` or a
    pinned test transaction) and gives them back when it is done."""

    async def request_task() -> T:
        try:
            return await work
        finally:
            await aclose_connections()

    return await asyncio.create_task(request_task())


def _on_loop() -> bool:
    return conf.get("SYNC_VIEWS") == "greenlet"


class ClientHandler(django_client.ClientHandler, ASGIHandler):
    """The handler of ``django.test.Client``: the stock sync client handler,
    run in a bridge greenlet of its own request task, with the middleware
    chain oneloop's ASGI handler builds.

    Called from plain sync code (a sync test) the request runs on the
    thread's private loop (see ``oneloop.await_``); called from sync code in
    a bridge, on the running loop.
    """

    def __init__(self, enforce_csrf_checks: bool = True) -> None:
        # Not the ASGI handler's __init__: the chain is loaded at the first
        # request, as Django's client handlers do (override_settings).
        base.BaseHandler.__init__(self)
        self.enforce_csrf_checks = enforce_csrf_checks
        self.sync_views = conf.get("SYNC_VIEWS")
        self.on_loop = self.sync_views == "greenlet"
        self.block_warn_ms = None
        self._watched_loop = None

    def load_middleware(self, is_async: bool = False) -> None:
        # A WSGI-style request: Django's own sync chain, as the stock client
        # builds it (middleware with an async path of their own, such as
        # RemoteUserMiddleware, read WSGI's META keys on this path).
        base.BaseHandler.load_middleware(self, is_async=is_async)

    def __call__(self, environ: dict[str, Any]) -> HttpResponseBase:  # type: ignore[override]
        stock_call = super().__call__  # Django's ClientHandler.__call__
        if not self.on_loop:
            return stock_call(environ)
        return await_(_in_request_task(run_sync(stock_call, environ)))


class AsyncClientHandler(django_client.AsyncClientHandler, ASGIHandler):
    """The handler of ``django.test.AsyncClient``: each request runs in its
    own task, its whole sync part (``request_started``, middleware, view,
    ``response.close()`` and ``request_finished``) in one bridge greenlet, as
    oneloop's ASGI handler serves it. Async middleware and views are awaited
    on the loop."""

    def __init__(self, enforce_csrf_checks: bool = True) -> None:
        # Not the ASGI handler's __init__: the chain is loaded at the first
        # request, as Django's client handlers do (override_settings).
        base.BaseHandler.__init__(self)
        self.enforce_csrf_checks = enforce_csrf_checks
        self.sync_views = conf.get("SYNC_VIEWS")
        self.on_loop = self.sync_views == "greenlet"
        self.block_warn_ms = None
        self._watched_loop = None

    async def __call__(self, scope: dict[str, Any]) -> HttpResponseBase:  # type: ignore[override]
        if not self.on_loop:
            return await super().__call__(scope)
        if self._middleware_chain is None:
            self.load_middleware(is_async=False)
        body_file = scope.pop("_body_file", None)
        if body_file is None:
            body_file = django_client.FakePayload("")
        return await _in_request_task(
            run_sync(self._respond_in_bridge, scope, body_file)
        )

    def _respond_in_bridge(self, scope: dict[str, Any], body_file: Any) -> Any:
        """Django's ``AsyncClientHandler.__call__``, step for step, in sync
        code: it runs in the request's bridge greenlet."""
        # The test's connection must outlive the request (it holds the
        # test's transaction): keep close_old_connections out of it.
        request_started.disconnect(close_old_connections)
        try:
            request_started.send(sender=self.__class__, scope=scope)
        finally:
            request_started.connect(close_old_connections)
        request = ASGIRequest(scope, LimitedStream(body_file, len(body_file)))
        request._dont_enforce_csrf_checks = not self.enforce_csrf_checks
        response = self.get_response(request)
        django_client.conditional_content_removal(request, response)
        response.asgi_request = request
        if response.streaming:
            wrap = (
                django_client.aclosing_iterator_wrapper
                if response.is_async
                else django_client.closing_iterator_wrapper
            )
            response.streaming_content = wrap(
                response.streaming_content, response.close
            )
        else:
            request_finished.disconnect(close_old_connections)
            try:
                response.close()  # sends request_finished
            finally:
                request_finished.connect(close_old_connections)
        return response


class Client(django_client.Client):
    """``django.test.Client`` with oneloop's handler, whether or not
    ``oneloop.install()`` has run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handler = ClientHandler(self.handler.enforce_csrf_checks)


class AsyncClient(django_client.AsyncClient):
    """``django.test.AsyncClient`` with oneloop's handler, whether or not
    ``oneloop.install()`` has run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handler = AsyncClientHandler(self.handler.enforce_csrf_checks)


# Django's clients build their handler from these module attributes.
PATCHES: list[tuple[Any, str, Any]] = [
    (django_client, "ClientHandler", ClientHandler),
    (django_client, "AsyncClientHandler", AsyncClientHandler),
]
