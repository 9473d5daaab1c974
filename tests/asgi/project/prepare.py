"""Create the test project's tables and data: ``python -m
tests.asgi.project.prepare`` (the test fixture runs it in a subprocess)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.asgi.project.settings")

import django

USERS = 10


def main() -> None:
    django.setup()
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command

    from tests.testapp.models import Author, Book

    call_command("migrate", run_syncdb=True, verbosity=0)
    User.objects.create_superuser("admin", "admin@example.com", "admin-pw")
    add_book = Permission.objects.get(codename="add_book")
    for n in range(USERS):
        user = User.objects.create_user(f"user{n}", password=f"pw-user{n}")
        if n % 2 == 0:
            user.user_permissions.add(add_book)
    author = Author.objects.create(name="Ursula K. Le Guin")
    Book.objects.bulk_create(
        Book(title=f"Book {n}", n=n, author=author) for n in range(1, 101)
    )


if __name__ == "__main__":
    main()
