"""Publishers, authors, books and reviews, plus the mail the shop has sent."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from shop.isbn import validate_isbn13


class Publisher(models.Model):
    """A publisher owns the ISBNs that start with its 7-digit prefix."""

    name = models.CharField(max_length=100)
    isbn_prefix = models.CharField(max_length=7, unique=True)

    def __str__(self) -> str:
        return self.name


class Author(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    publisher = models.ForeignKey(
        Publisher, on_delete=models.PROTECT, related_name="books"
    )
    isbn = models.CharField(
        "ISBN", max_length=13, unique=True, validators=[validate_isbn13]
    )
    year = models.PositiveSmallIntegerField(default=2024)
    suggested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title


class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.CharField(max_length=100)
    rating = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    text = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.book}"


class SentEmail(models.Model):
    """One email as the shop's email backend delivered it (see shop.mail)."""

    sent_at = models.DateTimeField(auto_now_add=True)
    from_email = models.CharField(max_length=200)
    to = models.TextField()
    subject = models.CharField(max_length=300)
    body = models.TextField()

    class Meta:
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return self.subject
