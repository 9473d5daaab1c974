"""ASGI handler that runs Django's sync code on the event loop.

Stock Django under ASGI runs every sync view and every ``MiddlewareMixin``
hook through ``sync_to_async``: a thread per request and a hop per hook.
``oneloop.asgi.ASGIHandler`` loads the middleware chain in *sync* mode and
runs the whole request (``request_started`` receivers, middleware, view,
response closing and ``request_finished`` receivers, sync iterators of
streaming responses) in one bridge greenlet of the request's task, on the
loop thread. Database IO inside it awaits the async driver, so other requests
run meanwhile. Async middleware and async views met inside the chain are
reached through asgiref's ``async_to_sync``, which (once ``oneloop`` is
installed) awaits them on the same loop: they run natively, with no thread.

Everything else is Django's own handler, reached through its hooks:
request building, body reading, ``run_get_response``, ``send_response``,
disconnect detection. ``handle`` keeps Django's steps and says, in its
docstring, which lines differ and why. A client that disconnects cancels
the request's task; the cancellation is raised inside the sync code at its
current database await, so ``atomic`` rolls back and the server stops the
query. The request's database connections go back to their pools when the
response has been sent.

``ONELOOP = {"SYNC_VIEWS": "thread"}`` keeps Django's stock behaviour (sync
code in threads) for projects with blocking code they cannot change yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    MutableMapping,
)
from typing import Any

import django
from asgiref.sync import (
    ThreadSensitiveContext,
    async_to_sync,
    iscoroutinefunction,
    sync_to_async,
)
from django.conf import settings
from django.core import checks, signals
from django.core.exceptions import (
    ImproperlyConfigured,
    MiddlewareNotUsed,
    RequestAborted,
)
from django.core.handlers import asgi as django_asgi
from django.core.handlers import base
from django.core.handlers.exception import convert_exception_to_response
from django.dispatch import Signal
from django.http import HttpResponseBase
from django.urls import set_script_prefix
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from oneloop import conf
from oneloop.bridge import run_sync
from oneloop.bridge import sync_to_async as bridge_sync_to_async
from oneloop.watchdog import start_watchdog

__all__ = [
    "ASGIHandler",
    "check_asgi_application",
    "get_asgi_application",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_DONE = object()

logger = logging.getLogger("oneloop.asgi")


def _has_own_async_hooks(factory: Any) -> bool:
    """Whether a middleware that can run both ways has an async path of its
    own (e.g. ``RemoteUserMiddleware.aprocess_request``, which reads a
    different header under ASGI): it must run that path, as under Django's
    ASGI handler. ``MiddlewareMixin``'s generic ``__acall__`` doesn't count."""
    if not getattr(factory, "async_capable", False) or not isinstance(factory, type):
        return False
    return any(
        name in vars(cls)
        for cls in factory.__mro__
        if cls not in (MiddlewareMixin, object)
        for name in ("__acall__", "aprocess_request", "aprocess_response")
    )


class _Progress:
    """How far one request got; read by ``handle`` to decide whether a
    disconnect still cancels the request's task."""

    __slots__ = ("finishing",)

    def __init__(self) -> None:
        self.finishing = False


class ASGIHandler(django_asgi.ASGIHandler):
    """Django's ASGI handler, with sync code run on the loop in greenlets.

    See the module docstring. With ``SYNC_VIEWS="thread"`` it behaves like
    Django's own handler (plus the watchdog and connection release).
    """

    def __init__(self) -> None:
        problems = conf.problems()
        if problems:
            raise ImproperlyConfigured(
                " ".join(f"{what} {hint}" for what, hint in problems)
            )
        self.sync_views: str = conf.get("SYNC_VIEWS")
        self.block_warn_ms: float | None = conf.get("BLOCK_WARN_MS")
        self.on_loop = self.sync_views == "greenlet"
        if self.on_loop:
            # The chain relies on async_to_sync awaiting on the loop and on
            # per-task connections; "oneloop" in INSTALLED_APPS installs
            # them too (idempotent).
            from oneloop.patches import install

            install()
        self._watched_loop: asyncio.AbstractEventLoop | None = None
        # Django's: loads the middleware chain (see load_middleware).
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        """Build the middleware chain.

        In thread mode this is Django's own chain (async under ASGI). On the
        loop the chain is sync whatever ``is_async`` asks (Django's handler
        and its async test client ask for async): one greenlet runs all of
        it. Every middleware that can run sync runs sync, in the request's
        greenlet, even below an async-only one (Django would switch a
        ``MiddlewareMixin`` there to async mode, whose hooks hop to a thread).
        An async-only middleware is called through ``async_to_sync``, which
        awaits it on the loop, and the chain below it re-enters a bridge.
        """
        if not self.on_loop:
            super().load_middleware(is_async=is_async)
            return
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.MIDDLEWARE):
            factory = import_string(path)
            runs_sync = getattr(factory, "sync_capable", True) and not (
                _has_own_async_hooks(factory)
            )
            if not runs_sync and not getattr(factory, "async_capable", False):
                raise RuntimeError(
                    f"Middleware {path} must have at least one of "
                    f"sync_capable/async_capable set to True."
                )
            # Below an async-only middleware the sync chain runs in a bridge
            # (adapt_method_mode, with Django's debug line for the adapter).
            adapted = (
                handler
                if runs_sync
                else self.adapt_method_mode(
                    True,
                    handler,
                    False,
                    debug=settings.DEBUG,
                    name=f"middleware {path}",
                )
            )
            try:
                instance = factory(adapted)
            except MiddlewareNotUsed as exc:
                if settings.DEBUG:
                    if str(exc):
                        base.logger.debug("MiddlewareNotUsed(%r): %s", path, exc)
                    else:
                        base.logger.debug("MiddlewareNotUsed: %r", path)
                continue
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
            # Hooks run in the request's greenlet; async ones are awaited on
            # the loop through async_to_sync.
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(
                    0, self.adapt_method_mode(False, instance.process_view)
                )
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(
                    self.adapt_method_mode(False, instance.process_template_response)
                )
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(
                    self.adapt_method_mode(False, instance.process_exception)
                )
            handler = convert_exception_to_response(instance)
            if not runs_sync:
                handler = async_to_sync(handler)
        self._middleware_chain = handler

    def make_view_atomic(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Django's; on the loop, an async view's response whose ``render()``
        is a coroutine function also gets a sync ``render`` that awaits it.

        Django's async chain awaits such a ``render()`` and hands what it
        raises to the exception middleware; the chain here is sync, and would
        get the coroutine itself as the response."""
        view = super().make_view_atomic(view)
        if not self.on_loop or not iscoroutinefunction(view):
            return view

        @functools.wraps(view)
        async def view_with_sync_render(request: Any, *args: Any, **kwargs: Any) -> Any:
            response = await view(request, *args, **kwargs)
            render = getattr(response, "render", None)
            if callable(render) and iscoroutinefunction(render):
                response.render = async_to_sync(render)
            return response

        return view_with_sync_render

    def adapt_method_mode(
        self,
        is_async: bool,
        method: Callable[..., Any],
        method_is_async: bool | None = None,
        debug: bool = False,
        name: str | None = None,
    ) -> Callable[..., Any]:
        """Django's adapter, except that on the loop a sync handler below an
        async-only middleware runs in a bridge greenlet, not in a thread
        (with Django's debug line for it)."""
        if self.on_loop and is_async:
            if method_is_async is None:
                method_is_async = iscoroutinefunction(method)
            if not method_is_async:
                if debug:
                    base.logger.debug(
                        "Synchronous handler adapted for %s.",
                        name or f"method {method.__qualname__}()",
                    )
                return bridge_sync_to_async(method)
        return super().adapt_method_mode(
            is_async, method, method_is_async, debug=debug, name=name
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point: HTTP requests, and the lifespan protocol."""
        self._watch_loop()
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(
                f"Django can only handle ASGI/HTTP connections, not "
                f"{scope['type']}. Route websocket connections to another "
                f"application (e.g. with a protocol router) before this handler."
            )
        # Kept from Django's handler: user code calling asgiref's
        # sync_to_async(thread_sensitive=True) gets one thread per request.
        async with ThreadSensitiveContext():
            await self.handle(scope, receive, send)

    def _watch_loop(self) -> None:
        if self.block_warn_ms is None:
            return
        loop = asyncio.get_running_loop()
        if loop is not self._watched_loop:
            start_watchdog(loop, self.block_warn_ms)
            self._watched_loop = loop

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Answer the lifespan protocol so servers need no ``--lifespan off``.

        Django has no startup hooks; the watchdog is started by now. At
        shutdown the loop's database and cache pools are closed before the
        reply, so their connections end cleanly instead of being cut when
        the process exits (or kept, by a server that reuses the process).
        """
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                failure = await self._close_pools()
                if failure is None:
                    await send({"type": "lifespan.shutdown.complete"})
                else:
                    await send({"type": "lifespan.shutdown.failed", "message": failure})
                return

    @staticmethod
    async def _close_pools() -> str | None:
        """Close the running loop's database and cache pools, each even if
        the other fails; say what failed, if anything."""
        from oneloop.cache import aclose_pools as close_cache_pools
        from oneloop.db import aclose_pools as close_database_pools

        failures = []
        for what, close in (
            ("database", close_database_pools),
            ("cache", close_cache_pools),
        ):
            try:
                await close()
            except Exception as exc:
                logger.exception("Closing the %s pools at shutdown failed.", what)
                failures.append(f"Closing the {what} pools failed: {exc!r}")
        return " ".join(failures) or None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request: read the body, run the request in its own task,
        cancel that task if the client disconnects first.

        Django's ``ASGIHandler.handle`` with the same steps, through the same
        hooks (``read_body``, ``create_request``, ``run_get_response``,
        ``send_response``, ``listen_for_disconnect``). What differs, and why:

        * Django sends ``request_started`` and closes the response in the
          handler's task, and gets and sends the response in a second task.
          Here all of it runs in one task (``_serve``), so every bridge of
          the request belongs to one task, and the request's database
          connections go back to their pools, awaited, once the response is
          closed.
        * Django sends ``request_started`` (and ``request_finished`` when
          there is no response) with ``asend`` and closes the response
          through ``sync_to_async`` (a thread): on the loop they run in
          bridges of the request's task (``_send_signal``, ``_finish``), so
          receivers share the request's context and connections.
        * Closing now happens in the request's task: once the response is
          sent, a disconnect (which servers report as soon as the response
          is complete) no longer cancels it (``_Progress``).
        * When the server cancels ``handle`` (shutdown), the request's task
          is cancelled and its clean-up awaited; Django 5.2 leaves its
          second task running.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        progress = _Progress()
        serving = asyncio.create_task(self._serve(scope, body_file, send, progress))
        listening = asyncio.create_task(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait(
                (listening, serving), return_when=asyncio.FIRST_COMPLETED
            )
            if not serving.done() and not progress.finishing:
                # The client went away before its response was sent: stop
                # the request's work. The cancellation reaches the sync code
                # at its current database await; its clean-up (rollback,
                # request_finished, connections back to the pool) runs in
                # the task.
                serving.cancel()
            await asyncio.wait((serving,))
        finally:
            # Also reached when the server cancels us (shutdown).
            for task in (serving, listening):
                if not task.done():
                    task.cancel()
            await asyncio.wait((serving, listening))
            body_file.close()
        with contextlib.suppress(asyncio.CancelledError, RequestAborted):
            listening.result()
        with contextlib.suppress(asyncio.CancelledError):
            serving.result()

    async def _serve(
        self, scope: Scope, body_file: Any, send: Send, progress: _Progress
    ) -> None:
        """The request's task: Django's steps from ``set_script_prefix`` to
        ``send_response``, then the closing and the connections' release."""
        response: HttpResponseBase | None = None
        try:
            set_script_prefix(django_asgi.get_script_prefix(scope))
            await self._send_signal(signals.request_started, scope=scope)
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                body_file.close()
                response = error_response
            else:
                response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                # The client went away while the response was being sent:
                # nothing is left to do but close it (as Django does).
                pass
        finally:
            progress.finishing = True
            await self._finish(response)

    async def get_response_async(self, request: Any) -> HttpResponseBase:
        """On the loop: Django's sync ``get_response`` (the middleware chain
        is sync, see ``load_middleware``) in a bridge greenlet of the
        request's task. Django's ``run_get_response`` calls it, and the test
        client's handler too. In thread mode: Django's own."""
        if not self.on_loop:
            return await super().get_response_async(request)
        return await run_sync(self.get_response, request)

    async def _finish(self, response: HttpResponseBase | None) -> None:
        """Close the response (which sends ``request_finished``), or send
        ``request_finished`` if there is none (cancelled before one existed),
        then give the request's database connections back to their pools."""
        from oneloop.connections import aclose_connections

        try:
            if response is None:
                await self._send_signal(signals.request_finished)
            elif self.on_loop:
                await run_sync(response.close)
            else:
                await sync_to_async(response.close)()
        finally:
            await aclose_connections()

    async def _send_signal(self, signal: Signal, **named: Any) -> None:
        """Django's ``signal.asend(sender=...)``; on the loop, ``send`` in a
        bridge of the request's task instead: ``asend`` runs sync receivers
        in a child task, where what they set in context variables (a request
        id for logging, ...) would not reach the view."""
        if self.on_loop:
            await run_sync(signal.send, sender=self.__class__, **named)
        else:
            await signal.asend(sender=self.__class__, **named)

    async def send_response(self, response: HttpResponseBase, send: Send) -> None:
        """Django's ``send_response``. On the loop, a sync iterator of a
        streaming response is first made an async one that reads each chunk
        in a bridge: Django would read the whole iterator into a list in a
        thread (``StreamingHttpResponse.__aiter__``), which buffers the body
        and runs its database queries off the loop."""
        if self.on_loop and response.streaming and not response.is_async:
            response.streaming_content = _read_in_bridge(response.streaming_content)
        await super().send_response(response, send)


async def _read_in_bridge(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    """The chunks of a sync iterator, each read in a bridge greenlet."""
    chunks = iter(parts)
    while (chunk := await run_sync(next, chunks, _DONE)) is not _DONE:
        yield chunk


def get_asgi_application() -> ASGIHandler:
    """Set Django up and return oneloop's ASGI handler: the drop-in for
    ``django.core.asgi.get_asgi_application`` in a project's ``asgi.py``."""
    django.setup(set_prefix=False)
    return ASGIHandler()


# -- system checks ------------------------------------------------------------


def _unwrap(app: Any) -> Any:
    """The Django handler inside common ASGI wrappers (static files handler,
    middleware classes that keep ``app``/``application``, the ``"http"``
    route of Channels' ``ProtocolTypeRouter``)."""
    seen = 0
    while seen < 10 and not isinstance(app, django_asgi.ASGIHandler):
        inner = getattr(app, "application", None) or getattr(app, "app", None)
        if inner is None:
            inner = (getattr(app, "application_mapping", None) or {}).get("http")
        if inner is None:
            break
        app, seen = inner, seen + 1
    # ASGIStaticFilesHandler is itself a stock ASGIHandler subclass that
    # wraps the real application.
    inner = getattr(app, "application", None)
    if isinstance(inner, django_asgi.ASGIHandler):
        return _unwrap(inner)
    return app


def _project_asgi_application() -> Any:
    """Best effort: the project's ASGI application object, or None.

    ``settings.ASGI_APPLICATION`` if set (as Channels and Daphne use it),
    else ``application`` in the ``asgi`` module next to
    ``settings.WSGI_APPLICATION`` (the layout ``startproject`` creates).
    """
    from django.utils.module_loading import import_string

    path = getattr(settings, "ASGI_APPLICATION", None)
    if path:
        return import_string(path)
    wsgi = getattr(settings, "WSGI_APPLICATION", None)
    if not wsgi or ".wsgi." not in wsgi:
        return None
    package = wsgi.rsplit(".wsgi.", 1)[0]
    try:
        module = importlib.import_module(f"{package}.asgi")
    except ImportError:
        return None
    return getattr(module, "application", None)


def check_asgi_application(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Warn when ``oneloop`` is installed but the project's ASGI application
    is Django's stock handler (sync views would still pin threads)."""
    from django.apps import apps

    if not apps.is_installed("oneloop"):
        return []
    try:
        app = _project_asgi_application()
    except Exception:  # best effort: a broken asgi module is not our check
        return []
    app = _unwrap(app)
    if not isinstance(app, django_asgi.ASGIHandler) or isinstance(app, ASGIHandler):
        return []
    return [
        checks.Warning(
            "oneloop is installed, but the ASGI application is Django's stock "
            f"handler ({type(app).__module__}.{type(app).__qualname__}): sync "
            "views and middleware still run in threads, one per request.",
            hint="In asgi.py use `from oneloop.asgi import get_asgi_application` "
            "instead of `from django.core.asgi import get_asgi_application` "
            '(with Channels: for the "http" route of the ProtocolTypeRouter).',
            id="oneloop.W101",
        )
    ]
