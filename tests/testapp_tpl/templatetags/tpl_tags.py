"""Template tags that do IO, as real projects' tags do."""

from __future__ import annotations

import threading

from django import template
from django.db import connection

from tests.testapp.models import Book

register = template.Library()

#: Thread idents seen by the tags, so tests can prove where rendering ran.
SEEN_THREADS: list[int] = []


@register.simple_tag
def pg_wait(seconds: float) -> str:
    """Wait ``seconds`` inside PostgreSQL and say which backend pid did."""
    SEEN_THREADS.append(threading.get_ident())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s), pg_backend_pid()", [seconds])
        (_, pid) = cursor.fetchone()
    return f"pid={pid}"


@register.simple_tag
def book_count(author=None) -> int:
    """Count books (of one author) with a query."""
    SEEN_THREADS.append(threading.get_ident())
    books = Book.objects.all()
    if author is not None:
        books = books.filter(author=author)
    return books.count()


@register.simple_tag
def thread_ident() -> str:
    """Record the thread the template renders on."""
    SEEN_THREADS.append(threading.get_ident())
    return ""


@register.filter
def shout(value: object) -> str:
    return f"{value}!"
