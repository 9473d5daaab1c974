"""Django's test cases under oneloop: one connection per test transaction.

Django's ``TestCase`` wraps every test (and ``setUpTestData``) in a
transaction on the test thread's connection. Under oneloop each asyncio task
has its own connection, so an ``async def`` test, a request made with the
async test client and the child tasks of ``gather`` would each run outside
that transaction: they would not see the test's rows, and what they wrote
would be committed and leak into the next test. So, while a ``TestCase``
transaction is open, its aliases are pinned (``oneloop.connections.pin``):
every task on any thread, and async code on any loop, uses the test's
connection, and isolation holds exactly as in stock Django.

``TransactionTestCase`` commits for real and flushes the tables afterwards;
nothing is pinned, so async tasks use the async driver and pooled
connections. ``LiveServerTestCase`` serves the project with oneloop's ASGI
handler (on uvicorn, in a thread with its own loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.core.handlers.exception import response_for_exception
from django.db import connections
from django.http import Http404
from django.test import testcases as django_testcases

from oneloop.bridge import await_, in_bridge
from oneloop.connections import pin, share_on_loop
from oneloop.patches import sync_code_on_loop

__all__ = [
    "PATCHES",
    "LiveServerTestCase",
    "LiveServerThread",
]

TestCase = django_testcases.TestCase
TransactionTestCase = django_testcases.TransactionTestCase

_stock_enter_atomics = TestCase.__dict__["_enter_atomics"].__func__
_stock_rollback_atomics = TestCase.__dict__["_rollback_atomics"].__func__
_stock_fixture_setup = TransactionTestCase.__dict__["_fixture_setup"].__func__
_stock_fixture_teardown = TransactionTestCase.__dict__["_fixture_teardown"]

# TransactionTestCase class -> the pin of its in-memory SQLite aliases.
_memory_pins: dict[type, contextlib.AbstractContextManager[None]] = {}


class _PinnedAtomics(dict):
    """A ``TestCase``'s open atomics by alias, and the pin that makes every
    task use their connections until they are rolled back."""

    pinning: contextlib.AbstractContextManager[None] | None = None


def _enter_atomics(cls: type[TestCase]) -> dict[str, Any]:
    """``TestCase._enter_atomics``, then pin the aliases to the connections
    that hold the test's transaction."""
    atomics = _PinnedAtomics(_stock_enter_atomics(cls))
    # Inside a bridge the test's task holds the transaction, and the task's
    # connection rules already share it with child tasks (they are inside
    # its atomic): pinning the thread's own wrapper would be wrong there.
    if atomics and not in_bridge():
        atomics.pinning = pin(*atomics)
        atomics.pinning.__enter__()
    return atomics


def _rollback_atomics(cls: type[TestCase], atomics: dict[str, Any]) -> None:
    """``TestCase._rollback_atomics``, then release the pin."""
    try:
        _stock_rollback_atomics(cls, atomics)
    finally:
        pinning = getattr(atomics, "pinning", None)
        if pinning is not None:
            atomics.pinning = None
            pinning.__exit__(None, None, None)


def _async_to_sync(
    func: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Any]:
    """What ``SimpleTestCase`` uses to run an ``async def`` test method:
    asgiref's ``async_to_sync``, keeping unittest's ``@expectedFailure`` mark,
    which unittest reads from the method it calls and asgiref's wrapper
    drops (oneloop's backends list async tests of Django's own suite in
    ``django_test_expected_failures``)."""
    run = async_to_sync(func)
    if getattr(func, "__unittest_expecting_failure__", False):
        run.__unittest_expecting_failure__ = True  # type: ignore[attr-defined]
    return run


def _close_private_pools() -> None:
    """Close the connection pools that bridged sync code of this thread made
    on its private loop (the test client called from a sync test): their
    connections would otherwise keep the test database open when the test
    runner drops it."""
    from oneloop.db import aclose_pools

    if in_bridge():
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        await_(aclose_pools())


def _fixture_setup(cls: type[TransactionTestCase]) -> None:
    """``TransactionTestCase._fixture_setup``, then pin the aliases whose
    test database is an in-memory SQLite database.

    Such a database exists once per connection (shared-cache mode at best,
    where concurrent writers fail with "database table is locked"), so every
    task of the test must use the test thread's one connection, serialized,
    as Django's live server thread does.
    """
    _stock_fixture_setup(cls)
    if in_bridge() or cls in _memory_pins:
        return
    aliases = [
        alias
        for alias in cls._databases_names()
        if connections[alias].vendor == "sqlite"
        and connections[alias].is_in_memory_db()
    ]
    if aliases:
        pinning = _memory_pins[cls] = pin(*aliases)
        pinning.__enter__()
        # Django runs the first test's fixture setup in setUpClass; when that
        # test is skipped, no fixture teardown follows it. The pin must not
        # outlive the class: a later async test would get this connection.
        cls.addClassCleanup(_release_memory_pin, cls)


def _fixture_teardown(self: TransactionTestCase) -> None:
    """``TransactionTestCase._fixture_teardown`` (the flush), after this
    thread's bridged connections went back and their pools closed; then the
    in-memory aliases are released."""
    try:
        _close_private_pools()
        _stock_fixture_teardown(self)
    finally:
        _release_memory_pin(type(self))


def _release_memory_pin(cls: type[TransactionTestCase]) -> None:
    pinning = _memory_pins.pop(cls, None)
    if pinning is not None:
        pinning.__exit__(None, None, None)


# -- the live server ----------------------------------------------------------


class LiveServerThread(django_testcases.LiveServerThread):
    """Serves the project with oneloop's ASGI handler on uvicorn, on a loop
    of its own, in this thread.

    Requests run as in production: each in its own task, sync views in
    bridge greenlets, database IO on the async driver with pooled
    connections (``LiveServerTestCase`` is a ``TransactionTestCase``: the
    test's rows are committed, so every connection sees them). An in-memory
    SQLite database exists once per connection: the test thread's connection
    is shared, as Django does. Media and static files are served by the
    WSGI files handlers Django's live server wraps its application in
    (``_MediaFilesHandler`` and the test case's ``static_handler``), so
    their settings are checked, and their URLs served, as in stock Django.

    With ``ONELOOP = {"SYNC_VIEWS": "thread"}``, while any database uses an
    ENGINE that is not oneloop's, without uvicorn installed, or in a
    subclass that customises Django's WSGI server (overrides
    ``_create_server()`` or ``server_class``), it is Django's own WSGI live
    server thread.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server: Any = None
        self._stock = (
            not sync_code_on_loop()
            or not _has_uvicorn()
            or _customises_wsgi_server(type(self))
        )

    def get_application(self) -> Any:
        """The ASGI application to serve: oneloop's handler, behind the files
        handlers Django's live server builds, in the same order:
        ``static_handler(_MediaFilesHandler(WSGIHandler()))``. Building them
        checks their settings (``StaticLiveServerTestCase`` without
        ``STATIC_URL`` raises ``ImproperlyConfigured``) as Django's does."""
        from django.core.handlers.wsgi import WSGIHandler

        from oneloop.asgi import ASGIHandler

        media = django_testcases._MediaFilesHandler(WSGIHandler())
        static = self.static_handler(media)
        return _FilesHandler(static, _FilesHandler(media, ASGIHandler()))

    def run(self) -> None:
        if self._stock:
            super().run()
            return
        if self.connections_override:
            for alias, conn in self.connections_override.items():
                connections[alias] = conn
        try:
            asyncio.run(self._serve())
        except Exception as exc:
            self.error = exc
            self.is_ready.set()
        finally:
            connections.close_all()

    async def _serve(self) -> None:
        import uvicorn

        from oneloop.db import aclose_pools

        application = self.get_application()
        sock = socket.create_server((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            application,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = server = uvicorn.Server(config)
        # Requests are tasks of this loop: an in-memory database's one
        # connection is the test's, as in Django's live server thread.
        with share_on_loop(self.connections_override or {}):
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            try:
                # uvicorn offers a flag, not an event, for "listening".
                while not server.started and not serving.done():  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
                if serving.done():
                    serving.result()
                    raise RuntimeError(f"The live server stopped at start-up: {sock}")
                self.is_ready.set()
                await serving
            finally:
                if not serving.done():
                    server.should_exit = True
                    await asyncio.wait((serving,))
                sock.close()
                # The server's pooled connections hold the test database open.
                await aclose_pools()

    def terminate(self) -> None:
        if self._stock:
            super().terminate()
            return
        if self._server is not None:
            self._server.should_exit = True
        self.join()


class _FilesHandler(DjangoASGIHandler):
    """What one of Django's WSGI files handlers serves (the live server's
    ``_MediaFilesHandler`` or ``_StaticFilesHandler``, staticfiles'
    ``StaticFilesHandler``), as an ASGI application in front of ``application``.

    A request under the handler's URL is served by the handler's own
    ``serve()`` (file IO, in a worker thread); when there is no such file,
    Django's test handlers pass the request on to the application and
    staticfiles' answers 404, so this does the same. Every other request goes
    to ``application`` untouched.
    """

    def __init__(self, files: Any, application: Any) -> None:
        # Not ASGIHandler.__init__: it would load a middleware chain that
        # this handler never runs; it only uses the handler's send_response().
        self.files = files
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.files._should_handle(scope["path"]):
            await self.application(scope, receive, send)
            return
        request = self.request_class(scope, io.BytesIO())
        serve = sync_to_async(self.files.serve, thread_sensitive=False)
        try:
            response = await serve(request)
        except Http404 as exc:
            if isinstance(self.files, django_testcases.FSFilesHandler):
                await self.application(scope, receive, send)
                return
            response = await sync_to_async(
                response_for_exception, thread_sensitive=False
            )(request, exc)
        if response.streaming and not response.is_async:
            # As staticfiles' ASGIStaticFilesHandler does: a FileResponse's
            # iterator is sync, read it in a worker thread.
            response.streaming_content = _read_in_thread(response.streaming_content)
        try:
            await self.send_response(response, send)
        finally:
            # As ASGIHandler.handle() does: a FileResponse closes its file.
            await sync_to_async(response.close, thread_sensitive=False)()


async def _read_in_thread(content: Iterator[bytes]) -> AsyncIterator[bytes]:
    for part in await sync_to_async(list, thread_sensitive=False)(content):
        yield part


def _customises_wsgi_server(thread_class: type[LiveServerThread]) -> bool:
    """True when ``thread_class`` changes how Django's WSGI live server is
    built: it asks for that server, which uvicorn cannot stand in for."""
    return (
        thread_class._create_server is not LiveServerThread._create_server
        or thread_class.server_class is not LiveServerThread.server_class
    )


def _has_uvicorn() -> bool:
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return True


class LiveServerTestCase(django_testcases.LiveServerTestCase):
    """Django's ``LiveServerTestCase`` served by oneloop's ASGI handler (see
    ``LiveServerThread``); after ``oneloop.install()`` Django's own class
    and pytest-django's ``live_server`` fixture use the same thread."""

    server_thread_class = LiveServerThread


PATCHES: list[tuple[Any, str, Any]] = [
    (TestCase, "_enter_atomics", classmethod(_enter_atomics)),
    (TestCase, "_rollback_atomics", classmethod(_rollback_atomics)),
    (TransactionTestCase, "_fixture_setup", classmethod(_fixture_setup)),
    (TransactionTestCase, "_fixture_teardown", _fixture_teardown),
    (django_testcases, "async_to_sync", _async_to_sync),
    # pytest-django's live_server builds django.test.testcases.LiveServerThread.
    (django_testcases, "LiveServerThread", LiveServerThread),
    (django_testcases.LiveServerTestCase, "server_thread_class", LiveServerThread),
]
