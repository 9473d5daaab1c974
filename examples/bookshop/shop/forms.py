"""The book suggestion form: a sync validator (the ISBN check digit), an async
validator (the ISBN's publisher must be registered: a database lookup), and
Django's own uniqueness check of ``Book.isbn``.

``await ais_valid(form)`` runs all of it without blocking the event loop: the
async validator is awaited, the uniqueness query and ``clean()`` wait on the
async driver.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from shop.isbn import validate_isbn13
from shop.models import Book, Publisher


async def registered_publisher(value: str) -> None:
    """Async validator: the first 7 digits must be a known publisher's prefix."""
    if not await Publisher.objects.filter(isbn_prefix=value[:7]).aexists():
        raise ValidationError(
            "No registered publisher has the ISBN prefix %(prefix)s.",
            code="publisher",
            params={"prefix": value[:7]},
        )


class BookSuggestionForm(forms.ModelForm):
    isbn = forms.CharField(
        label="ISBN",
        max_length=13,
        validators=[validate_isbn13, registered_publisher],
        help_text="13 digits; the first 7 name the publisher.",
    )

    class Meta:
        model = Book
        fields = ["title", "author", "isbn", "year"]

    def clean(self) -> dict[str, Any]:
        # Plain sync ORM code: under oneloop it runs in the bridge greenlet
        # and waits on the async driver.
        cleaned = super().clean()
        isbn = cleaned.get("isbn")
        if isbn:
            publisher = Publisher.objects.filter(isbn_prefix=isbn[:7]).first()
            if publisher is not None:
                self.instance.publisher = publisher
        return cleaned
