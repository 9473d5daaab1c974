"""Where Django's own test suite and oneloop's ENGINEs knowingly differ.

Django reads ``DatabaseFeatures.django_test_skips`` and
``django_test_expected_failures`` only while its own suite runs
(``RUNNING_DJANGOS_TEST_SUITE=true``). Each entry has its reason; a listed
test that starts passing fails the run, so the lists stay honest.
"""

from __future__ import annotations

# Django's own ASGI tests that assert where sync code runs. oneloop runs the
# sync receivers of Signal.asend() (request_started, request_finished) in a
# bridge on the loop thread instead of on asgiref's thread-sensitive thread:
# the tests that compare threads see the loop thread, and the one that
# relied on request_finished queueing behind a still-running sync view on
# that one thread sees the request body closed before the view reads it.
# oneloop's own ASGI handler keeps the body open until the view has ended.
_SIGNALS_ON_THE_LOOP = (
    "Signal.asend() runs sync receivers in a bridge on the loop thread, not "
    "on asgiref's thread-sensitive thread"
)
_ASGI_THREAD_TESTS = {
    "asgi.tests.ASGITest.test_asyncio_cancel_error",
    "asgi.tests.ASGITest.test_cancel_post_request_with_sync_processing",
    "asgi.tests.ASGITest.test_request_lifecycle_signals_dispatched_with_thread_sensitive",
}

# LiveServerTestCase is served by oneloop's ASGI handler: every request is a
# task on the server's one loop. These views call the live server itself
# with a blocking urlopen() from sync code, which holds that loop, so the
# inner request is never served and the test hangs; a thread per request
# (Django's WSGI live server) serves it. Blocking calls from a view belong in
# oneloop.offload() (docs/limits.md).
_BLOCKING_CALL_TO_ITSELF = (
    "a sync view that calls its own live server with blocking IO holds the one "
    "loop that would serve the inner request"
)
_LIVE_SERVER_SUBVIEW_TESTS = {
    "servers.tests.LiveServerThreadedTests.test_view_calls_subview",
    "servers.tests.LiveServerThreadedTests.test_check_model_instance_from_subview",
}

# Django's tests of its WSGI live server itself: how it closes or keeps
# alive HTTP/1.1 connections, and the WSGI environ a view sees. uvicorn
# serves oneloop's live server, with its own connection handling, and
# requests are ASGI requests (no environ). Thread classes that customise the
# WSGI server (_create_server) still get Django's, and pass.
_SERVED_BY_UVICORN = (
    "LiveServerTestCase is served by oneloop's ASGI handler on uvicorn, not by "
    "Django's WSGI server"
)
_WSGI_SERVER_TESTS = {
    "servers.tests.LiveServerViews.test_closes_connection_without_content_length",
    "servers.tests.LiveServerViews.test_environ",
    "servers.tests.LiveServerViews.test_keep_alive_connection_clears_previous_request_data",
    "servers.tests.LiveServerViews.test_keep_alive_on_connection_with_content_length",
}

# django.test.Client serves each request in a task of its own, as oneloop's
# ASGI handler does: what the middleware sets in the request's context (the
# language LocaleMiddleware activates) stays in that request. This test reads
# a streaming response's lazily translated content after the request, in the
# test's own context; with Django's client the activation leaks into the
# calling thread, so the content is translated there.
_REQUEST_CONTEXT = (
    "the test client serves each request in its own task: what the middleware "
    "set for the request (the active language, the URLconf) does not outlive "
    "the request"
)
_REQUEST_CONTEXT_TESTS = {
    "i18n.tests.LocaleMiddlewareTests.test_streaming_response",
    # A streaming response that reverses a URL while the test reads it, after
    # the request, expecting the URLconf a middleware set for the request.
    "urlpatterns_reverse.tests.RequestURLconfTests.test_reverse_inner_in_streaming",
    "urlpatterns_reverse.tests.RequestURLconfTests.test_reverse_outer_in_streaming",
}

# On the loop the middleware chain is sync for the async test client too: a
# sync middleware runs in the request's greenlet and needs no adapter, so
# Django's debug line "Asynchronous handler adapted for middleware ...",
# which reports the thread hop of such an adapter, is not logged. (An
# async-only middleware does get an adapter, and its line, in both.)
_NO_ADAPTER = (
    "the async test client runs sync middleware in the request's greenlet, "
    "with no adapter to report in the debug log"
)
_NO_ADAPTER_TESTS = {
    "middleware_exceptions.tests.MiddlewareNotUsedTests."
    "test_async_and_sync_middleware_chain_async_call",
    "middleware_exceptions.tests.MiddlewareSyncAsyncTests.test_sync_middleware_async",
}

# uvicorn, which serves LiveServerTestCase, names log level 5 "TRACE" for the
# whole process when it is imported; this test expects Django's unnamed
# "Level 5" and fails when a live-server test ran earlier in its worker.
_UVICORN_LEVEL_NAME = (
    "uvicorn (the live server) names log level 5 TRACE for the process once "
    "imported; the test expects it unnamed"
)
_LEVEL_NAME_TESTS = {
    "test_runner.test_discover_runner.DiscoverRunnerTests.test_log_logger"
}

# vendor -> reason -> test names
SKIPS: dict[str, dict[str, set[str]]] = {
    vendor: {
        _BLOCKING_CALL_TO_ITSELF: _LIVE_SERVER_SUBVIEW_TESTS,
        # Skipped, not expected to fail: it passes when no live-server test
        # ran before it in its worker.
        _UVICORN_LEVEL_NAME: _LEVEL_NAME_TESTS,
    }
    for vendor in ("postgresql", "sqlite", "mysql")
}
_EVERY_VENDOR = {
    _SIGNALS_ON_THE_LOOP: _ASGI_THREAD_TESTS,
    _SERVED_BY_UVICORN: _WSGI_SERVER_TESTS,
    _REQUEST_CONTEXT: _REQUEST_CONTEXT_TESTS,
    _NO_ADAPTER: _NO_ADAPTER_TESTS,
}
EXPECTED_FAILURES: dict[str, dict[str, set[str]]] = {
    vendor: _EVERY_VENDOR for vendor in ("postgresql", "sqlite", "mysql")
}


def merge_skips(base: dict[str, set[str]], vendor: str) -> dict[str, set[str]]:
    merged = {reason: set(tests) for reason, tests in base.items()}
    for reason, tests in SKIPS[vendor].items():
        merged.setdefault(reason, set()).update(tests)
    return merged


def merge_expected_failures(base: set[str], vendor: str) -> set[str]:
    return set(base).union(*EXPECTED_FAILURES[vendor].values())
