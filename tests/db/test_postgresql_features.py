"""PostgreSQL driver features through the async facade: server-side cursors,
executemany, COPY, time zones, and the OPTIONS Django's backend reads."""

import asyncio
import copy
import datetime
import threading
import zoneinfo
from typing import Any

import django
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.backends.postgresql.base import Cursor, ServerBindingCursor
from django.test import override_settings
from django.utils import timezone

import oneloop
from oneloop.db.backends.postgresql._facade import ConnectionFacade
from tests.testapp.models import Book

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def _is_async_driver() -> bool:
    connection.ensure_connection()
    return isinstance(connection.connection, ConnectionFacade)


async def test_server_side_cursor_iterator_inside_and_outside_transactions():
    await Book.objects.abulk_create([Book(title="b", n=i) for i in range(250)])

    def iterate():
        assert _is_async_driver()
        outside = [b.n for b in Book.objects.order_by("n").iterator(chunk_size=40)]
        with transaction.atomic():
            inside = [b.n for b in Book.objects.order_by("n").iterator(chunk_size=40)]
        return outside, inside

    outside, inside = await oneloop.run_sync(iterate)
    assert outside == inside == list(range(250))


async def test_executemany_and_copy():
    def work():
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO testapp_book (title, n) VALUES (%s, %s)",
                [(f"m{i}", i) for i in range(10)],
            )
            with cursor.copy("COPY testapp_book (title, n) FROM STDIN") as copy:
                for i in range(10, 15):
                    copy.write_row((f"c{i}", i))
            with cursor.copy(
                "COPY (SELECT n FROM testapp_book ORDER BY n) TO STDOUT"
            ) as copy:
                return [int(row[0]) for row in copy.rows()]

    assert await oneloop.run_sync(work) == list(range(15))


@override_settings(TIME_ZONE="Asia/Kathmandu")
async def test_datetimes_round_trip_with_time_zones():
    moment = datetime.datetime(2026, 11, 25, 12, 30, tzinfo=datetime.UTC)
    book = await Book.objects.acreate(title="t", n=1, published=moment)

    def read_back():
        assert _is_async_driver()
        with timezone.override(zoneinfo.ZoneInfo("America/Lima")):
            fetched = Book.objects.get(pk=book.pk)
            in_lima = Book.objects.filter(
                published__hour=timezone.localtime(moment).hour
            ).exists()
        return fetched.published, in_lima

    published, matched = await oneloop.run_sync(read_back)
    assert published == moment
    assert published.tzinfo is not None
    assert matched


def _session_time_zone() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW TIME ZONE")
        return cursor.fetchone()[0]


def _session_time_zone_in_kathmandu() -> str:
    # The task has no connection yet when the setting changes, so Django's
    # ensure_timezone() (which would close the pool) has nothing to run on.
    with override_settings(USE_TZ=False, TIME_ZONE="Asia/Kathmandu"):
        return _session_time_zone()


async def test_a_pooled_connection_takes_the_time_zone_set_since_it_was_made():
    def in_a_task(fn):
        return asyncio.create_task(oneloop.run_sync(fn))

    assert await in_a_task(_session_time_zone) == connection.timezone_name
    # The same pooled connection, for a task that runs under other settings.
    assert await in_a_task(_session_time_zone_in_kathmandu) == "Asia/Kathmandu"
    assert await in_a_task(_session_time_zone) == connection.timezone_name


def _copy_of_default(**options) -> Any:
    """A hand-made wrapper for ``default`` with other OPTIONS, as Django's own
    backend tests make them."""
    wrapper = connection.copy()
    wrapper.settings_dict = copy.deepcopy(connection.settings_dict)
    wrapper.settings_dict["OPTIONS"].update(options)
    return wrapper


async def test_pool_false_opens_a_connection_of_its_own_in_a_bridge():
    def work():
        wrapper = _copy_of_default(pool=False, server_side_binding=True)
        assert wrapper.pool is None
        try:
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT %s::int + 1", [41])
                answer = cursor.fetchone()[0]
            held = wrapper.connection
            assert isinstance(held, ConnectionFacade)
            # What Django configured, whose async twin does the work.
            assert held.cursor_factory is ServerBindingCursor
        finally:
            wrapper.close()
        return answer, held

    answer, held = await oneloop.run_sync(work)
    assert answer == 42
    assert held.closed  # closed, not given to a pool


async def test_a_custom_sync_cursor_class_is_refused_in_a_bridge():
    class MyCursor(Cursor):
        pass

    def connect():
        wrapper = _copy_of_default(pool=False, cursor_factory=MyCursor)
        try:
            wrapper.connect()
        finally:
            wrapper.close()

    with pytest.raises(ImproperlyConfigured, match="MyCursor, a sync cursor class"):
        await oneloop.run_sync(connect)


async def test_a_pool_with_conn_max_age_is_refused_as_django_does():
    def pool():
        wrapper = _copy_of_default(pool={"max_size": 2})
        wrapper.alias = "default_with_max_age"
        wrapper.settings_dict["CONN_MAX_AGE"] = 10
        return wrapper.pool

    with pytest.raises(ImproperlyConfigured, match="persistent connections"):
        await oneloop.run_sync(pool)


@pytest.mark.skipif(
    django.VERSION < (6, 1), reason="OPTIONS['pool']['check'] is new in Django 6.1"
)
async def test_a_pool_check_function_runs_in_a_bridge_on_each_connection():
    checked: list[Any] = []

    def check(conn: Any) -> None:  # written for Django's sync pool
        checked.append(conn)
        conn.execute("SELECT 1")

    def query() -> int:
        wrapper = _copy_of_default(pool={"min_size": 1, "max_size": 2, "check": check})
        wrapper.alias = "default_with_check"
        try:
            assert wrapper.pool._check is check  # as Django's own pool shows it
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT %s::int + 1", [41])
                return cursor.fetchone()[0]
        finally:
            wrapper.close()

    assert await oneloop.run_sync(query) == 42
    assert checked, "the check did not run"
    assert all(isinstance(conn, ConnectionFacade) for conn in checked)


def test_a_connection_opened_on_another_thread_can_be_closed_in_a_bridge():
    # A sync connection of its own (no pool), shared with the loop's thread.
    wrapper = _copy_of_default(pool=False)
    wrapper.inc_thread_sharing()
    thread = threading.Thread(target=wrapper.ensure_connection)
    thread.start()
    thread.join()
    raw = wrapper.connection
    try:
        asyncio.run(oneloop.run_sync(wrapper.close))
    finally:
        wrapper.dec_thread_sharing()
    assert wrapper.connection is None
    assert raw.closed
