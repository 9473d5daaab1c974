"""Django's test clients, driving oneloop's ASGI handler.

``django.test.Client`` and ``django.test.AsyncClient`` call their handler
in-process. Stock Django's handlers run the middleware chain the stock way:
``AsyncClient`` in async mode, with a thread hop for every sync view and
``MiddlewareMixin`` hook. A oneloop project serves requests differently in
production, so its tests should too: with these handlers every request runs
as oneloop's ASGI handler runs it, in its own task, with the sync middleware
chain and sync views in one bridge greenlet on the loop, and its database
connections go back to their pools when the response is ready.

``oneloop.install()`` makes Django's clients use them (``PATCHES`` below).
They behave as Django's own unless every database uses one of oneloop's
ENGINEs and ``SYNC_VIEWS`` is ``"greenlet"``: ``ONELOOP = {"SYNC_VIEWS":
"thread"}`` keeps the stock behaviour, as it does for the ASGI handler, and
a project that installs oneloop on Django's own ENGINEs tests as stock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from django.core.handlers import base
from django.http import HttpResponseBase
from django.test import client as django_client

from oneloop import conf
from oneloop.asgi import ASGIHandler
from oneloop.bridge import await_, run_sync
from oneloop.connections import aclose_connections
from oneloop.patches import orm_sync_to_async, sync_code_on_loop

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


def _init_client_handler(handler: ASGIHandler, enforce_csrf_checks: bool) -> None:
    """What both client handlers set up. Not the ASGI handler's ``__init__``:
    the chain is loaded at the first request, as Django's client handlers do
    (``override_settings``). Django's own behaviour unless the project's sync
    code runs on the loop: a project on Django's ENGINEs tests as stock."""
    base.BaseHandler.__init__(handler)
    handler.enforce_csrf_checks = enforce_csrf_checks  # type: ignore[attr-defined]
    handler.sync_views = conf.get("SYNC_VIEWS")
    handler.on_loop = sync_code_on_loop()
    handler.block_warn_ms = None
    handler._watched_loop = None


class ClientHandler(django_client.ClientHandler, ASGIHandler):
    """The handler of ``django.test.Client``: the stock sync client handler,
    run in a bridge greenlet of its own request task, with the middleware
    chain oneloop's ASGI handler builds.

    Called from plain sync code (a sync test) the request runs on the
    thread's private loop (see ``oneloop.await_``); called from sync code in
    a bridge, on the running loop.
    """

    def __init__(self, enforce_csrf_checks: bool = True) -> None:
        _init_client_handler(self, enforce_csrf_checks)

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
    own task, its sync parts (``request_started`` receivers, middleware,
    view, ``response.close()`` and ``request_finished`` receivers) in bridge
    greenlets on the loop, as oneloop's ASGI handler serves it. Async
    middleware and views are awaited on the loop."""

    def __init__(self, enforce_csrf_checks: bool = True) -> None:
        _init_client_handler(self, enforce_csrf_checks)

    async def __call__(self, scope: dict[str, Any]) -> HttpResponseBase:  # type: ignore[override]
        """Django's ``AsyncClientHandler.__call__``, in a task of its own.
        Its hooks are oneloop's: ``load_middleware`` builds the sync chain,
        ``get_response_async`` runs it in a bridge, and (``PATCHES``) the
        ``sync_to_async`` that closes the response runs in a bridge too."""
        if not self.on_loop:
            return await super().__call__(scope)
        return await _in_request_task(super().__call__(scope))


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
    # AsyncClientHandler closes the response (request_finished receivers)
    # through it: in a bridge, as oneloop's ASGI handler closes it.
    (django_client, "sync_to_async", orm_sync_to_async),
]
