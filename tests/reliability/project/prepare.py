"""Create the reliability project's tables and seed rows:
``python -m tests.reliability.project.prepare`` (fixtures and the soak
command run it in a subprocess, against the database of the environment)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.reliability.project.settings")

import django

COUNTERS = 10
BOOKS = 100


def main() -> None:
    django.setup()
    from django.core.management import call_command

    from tests.testapp.models import Book, Counter

    call_command("migrate", run_syncdb=True, verbosity=0)
    Book.objects.bulk_create(Book(title=f"Book {n}", n=n) for n in range(BOOKS))
    Counter.objects.bulk_create(Counter(name=f"c{n}") for n in range(COUNTERS))


if __name__ == "__main__":
    main()
