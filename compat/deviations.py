"""Where oneloop deliberately differs from Django's own test suite, with a reason
for each entry.

Deviations of oneloop's ENGINEs in *any* mode are not here: they are the
backends' own (``oneloop.db.backends._deviations``, listed by their
``DatabaseFeatures.django_test_skips`` / ``django_test_expected_failures``).
This module keeps the harness's lists:

* ``bridged_skips()`` / ``bridged_expected_failures()``: tests that cannot
  pass when the whole suite runs inside one bridge on a running loop, for a
  reason that is not a oneloop bug (a test that asserts "no loop is running",
  for instance). Applied only in bridged mode.
* ``root_only_failures()``: tests that fail when the suite runs as root
  (as CI does) on stock Django too. The runner drops them at load time.
* ``library_failures()``: GIS tests that fail on stock Django too with the
  installed GEOS or GDAL, which reject input the tests give them. Dropped at
  load time too.

Entries are gated on ``django.VERSION`` so a renamed or removed test never
crashes the run (Django raises on a name it cannot import), and an entry that
starts passing is an unexpected success, so the lists stay honest.
"""

from __future__ import annotations

import django

__all__ = [
    "bridged_expected_failures",
    "bridged_skips",
    "library_failures",
    "root_only_failures",
]

DJANGO_5_2 = (5, 2) <= django.VERSION < (6, 0)


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
    if vendor == "postgresql" and (DJANGO_5_2 or django.VERSION >= (6, 0)):
        # In a bridge every connection of an alias comes from the loop's
        # pool, also without OPTIONS["pool"] (set it to False to opt out).
        # Like Django's own pool, the pool checks a connection when it hands
        # it out (CONN_HEALTH_CHECKS); the wrapper's per-request is_usable()
        # check, which these tests mock, is skipped, as Django skips it for
        # its pool.
        result["the pool, not the wrapper, checks connection health"] = {
            "backends.base.test_base.ConnectionHealthChecksTests"
            ".test_health_checks_enabled",
            "backends.base.test_base.ConnectionHealthChecksTests"
            ".test_set_autocommit_health_checks_enabled",
        }
        # psycopg's AsyncConnection cannot run a sync cursor class; oneloop
        # maps Django's own cursors to async twins and refuses any other with
        # ImproperlyConfigured (docs/limits.md).
        result["a custom sync cursor_factory cannot run on the async driver"] = {
            "backends.postgresql.tests.Tests.test_connect_custom_cursor_factory",
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
    if django.VERSION >= (6, 1):
        result["root writes to directories whatever their mode bits"] = {
            "mail.test_backends.FileBackendTests"
            ".test_error_if_file_path_is_not_writable",
            "mail.test_backends.FileBackendPathLibTests"
            ".test_error_if_file_path_is_not_writable",
        }
    return result


def library_failures() -> dict[str, set[str]]:
    """GIS tests that fail on stock Django too with the installed libraries:
    reason → dotted test names. Each is found by giving the library the
    input its test gives it, so a library that accepts it runs the test."""
    from django.contrib.gis.gdal import GDALException, SpatialReference
    from django.contrib.gis.geos import GEOSException, GEOSGeometry

    result: dict[str, set[str]] = {}
    try:
        GEOSGeometry("GEOMETRYCOLLECTIONZM(POINT ZM (0 0 0 0))")
    except GEOSException:  # GEOS 3.11 (Debian 12)
        result["GEOS rejects WKT with no space before a dimension marker"] = {
            "gis_tests.geos_tests.test_geos_limit.GEOSLimitTest"
            ".test_wkt_dimension_marker_whitespace_is_limited",
            "gis_tests.geos_tests.test_geos_limit.GEOSLimitTest"
            ".test_wkt_reader_whitespace_is_limited",
        }
    try:
        SpatialReference(" \tESRI::" + SpatialReference(4326).wkt)
    except GDALException:  # GDAL 3.6 (Debian 12)
        result["GDAL rejects whitespace before an ESRI:: prefix"] = {
            "gis_tests.gdal_tests.test_srs.SpatialRefTest.test_esri_prefixed_wkt",
        }
    return result
