"""Where oneloop deliberately differs from Django's own test suite, with a reason
for each entry.

Three lists, kept apart because they have different owners and lifetimes:

* ``skips(vendor)`` / ``expected_failures(vendor)``: deviations of oneloop's
  ENGINEs in *any* mode. They belong in the backends'
  ``DatabaseFeatures.django_test_skips`` / ``django_test_expected_failures``
  (Django applies those only when ``RUNNING_DJANGOS_TEST_SUITE=true``); the
  compat runner applies whatever the features do not list yet, the same way.
* ``bridged_skips()`` / ``bridged_expected_failures()``: tests that cannot
  pass when the whole suite runs inside one bridge on a running loop, for a
  reason that is not a oneloop bug (a test that asserts "no loop is running",
  for instance). Applied only in bridged mode.
* ``root_only_failures()``: tests that fail when the suite runs as root
  (as CI does) on stock Django too. The runner drops them at load time.

Entries are gated on ``django.VERSION`` so a renamed or removed test never
crashes the run (Django raises on a name it cannot import), and an entry that
starts passing is an unexpected success, so the lists stay honest.
"""

from __future__ import annotations

import django

__all__ = [
    "bridged_expected_failures",
    "bridged_skips",
    "expected_failures",
    "root_only_failures",
    "skips",
]

DJANGO_5_2 = (5, 2) <= django.VERSION < (6, 0)


def skips(vendor: str) -> dict[str, set[str]]:
    """``django_test_skips`` entries for oneloop's ENGINE of ``vendor``
    (``"postgresql"`` or ``"sqlite"``): reason → dotted test names."""
    result: dict[str, set[str]] = {}
    return result


def expected_failures(vendor: str) -> set[str]:
    """``django_test_expected_failures`` entries for oneloop's ENGINE of
    ``vendor``: dotted test names that fail for a documented reason."""
    result: set[str] = set()
    return result


def bridged_skips(vendor: str) -> dict[str, set[str]]:
    """Tests skipped only in bridged mode: reason → dotted test names."""
    result: dict[str, set[str]] = {}
    return result


def bridged_expected_failures(vendor: str) -> dict[str, set[str]]:
    """Tests expected to fail only in bridged mode: reason → dotted names."""
    result: dict[str, set[str]] = {}
    if DJANGO_5_2 or django.VERSION >= (6, 0):
        # The test's own sync code calls asyncio.run(); in a bridge the
        # thread's loop is already running, so asyncio refuses. The same test
        # fails the same way under any running loop (an ASGI server calling
        # sync code on its loop thread); nothing Django does is involved.
        result["the test calls asyncio.run() from sync code on a running loop"] = {
            "async.tests.ViewTests.test_http_method_not_allowed_responds_correctly",
            "async.tests.ViewTests.test_options_handler_responds_correctly",
        }
    return result


def root_only_failures() -> dict[str, set[str]]:
    """Tests that fail as root on stock Django too (permission checks that root
    bypasses): reason → dotted test names. Dropped at load time, only when the
    suite runs as root."""
    result: dict[str, set[str]] = {}
    if DJANGO_5_2 or django.VERSION >= (6, 0):
        result["root reads files whatever their mode bits"] = {
            "template_tests.test_loaders.FileSystemLoaderTests.test_permissions_error",
        }
    return result
