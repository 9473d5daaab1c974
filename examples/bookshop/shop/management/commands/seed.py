"""``manage.py seed``: the demo's sample data and its ``demo`` user.

Deterministic (a fixed random seed), and does nothing when books exist
already, so it is safe to run on every start.
"""

from __future__ import annotations

import random
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from shop.isbn import make_isbn
from shop.models import Author, Book, Publisher, Review

PUBLISHERS = [
    ("Harbour Press", "9781001"),
    ("Lantern Books", "9781002"),
    ("Northwind Publishing", "9781003"),
    ("Quill & Sons", "9781004"),
]
FIRST = [
    "Ada",
    "Boris",
    "Chloe",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Keiko",
    "Luis",
    "Mara",
    "Nils",
    "Olga",
]
LAST = [
    "Abbott",
    "Brandt",
    "Castillo",
    "Dumont",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Horvat",
    "Ivanova",
    "Jensen",
]
ADJECTIVES = [
    "Silent",
    "Crimson",
    "Hidden",
    "Last",
    "Northern",
    "Paper",
    "Quiet",
    "Restless",
    "Salt",
    "Winter",
    "Golden",
    "Broken",
]
NOUNS = [
    "Harbour",
    "Garden",
    "Lighthouse",
    "Orchard",
    "River",
    "Library",
    "Map",
    "Kingdom",
    "Clockmaker",
    "Voyage",
    "Forest",
    "Letters",
]

BOOKS = 120


class Command(BaseCommand):
    help = "Create the demo's sample data and the demo user (demo / demo)."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        if not User.objects.filter(username="demo").exists():
            User.objects.create_superuser("demo", "demo@bookshop.example", "demo")
        if Book.objects.exists():
            self.stdout.write("Sample data already present.")
            return
        rng = random.Random(1)
        with transaction.atomic():
            publishers = Publisher.objects.bulk_create(
                Publisher(name=name, isbn_prefix=prefix) for name, prefix in PUBLISHERS
            )
            names = sorted(
                {f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(40)}
            )
            authors = Author.objects.bulk_create(Author(name=n) for n in names)
            titles = [f"The {a} {n}" for a in ADJECTIVES for n in NOUNS]
            rng.shuffle(titles)
            books = Book.objects.bulk_create(
                Book(
                    title=titles[i],
                    author=rng.choice(authors),
                    publisher=publishers[i % len(publishers)],
                    isbn=make_isbn(publishers[i % len(publishers)].isbn_prefix, i),
                    year=rng.randint(1950, 2024),
                )
                for i in range(BOOKS)
            )
            Review.objects.bulk_create(
                Review(
                    book=rng.choice(books),
                    reviewer=rng.choice(FIRST),
                    rating=rng.randint(1, 5),
                    text="A sample review.",
                )
                for _ in range(200)
            )
        self.stdout.write(
            f"Created {len(publishers)} publishers, {len(authors)} authors, "
            f"{BOOKS} books and 200 reviews."
        )
