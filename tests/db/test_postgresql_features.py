"""PostgreSQL driver features through the async facade: server-side cursors,
executemany, COPY, time zones."""

import datetime
import zoneinfo

import pytest
from django.db import connection, transaction
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
