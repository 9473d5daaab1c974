"""The helper that docs/library-authors.md converts with ``@dual``: it queries
the ORM, renders a template and sends an email, written once."""

from __future__ import annotations

from django.core.mail import send_mail
from django.db import connection
from django.template.loader import render_to_string

from oneloop.dual import dual
from tests.testapp.models import Author


@dual
def send_reading_list(author_id: int, to: str) -> int:
    """Email ``to`` the list of an author's books; return how many."""
    author = Author.objects.get(pk=author_id)
    books = list(author.books.order_by("title"))
    body = render_to_string("tpl/email.txt", {"author": author, "books": books})
    send_mail(f"Books by {author.name}", body, "library@example.com", [to])
    return len(books)


class Library:
    """The same helper as methods: ``@dual`` binds like a function does."""

    def __init__(self, sender: str) -> None:
        self.sender = sender

    @dual
    def author_names(self, prefix: str = "") -> list[str]:
        names = Author.objects.filter(name__startswith=prefix).order_by("name")
        return [
            f"{self.sender}:{name}" for name in names.values_list("name", flat=True)
        ]

    @dual
    @classmethod
    def count(cls) -> tuple[str, int]:
        return cls.__name__, Author.objects.count()

    @dual
    @staticmethod
    def server_wait(seconds: float) -> int:
        """Wait inside the database server; return the backend pid."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(%s), pg_backend_pid()", [seconds])
            return cursor.fetchone()[1]
