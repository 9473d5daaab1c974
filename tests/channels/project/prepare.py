"""Create the Channels test project's tables and users: ``python -m
tests.channels.project.prepare`` (the test fixture runs it in a subprocess)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.channels.project.settings")

import django

USERS = 20


def main() -> None:
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)
    for n in range(USERS):
        User.objects.create_user(f"user{n}", password=f"pw-user{n}")


if __name__ == "__main__":
    main()
