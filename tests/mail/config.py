"""Pointing Django at an email backend in a test, the way the running Django
configures email: the default mailer of ``MAILERS`` on Django 6.1, the
``EMAIL_BACKEND`` and ``EMAIL_*`` settings on Django 5.2."""

from __future__ import annotations

import contextlib
from typing import Any

import django
import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend

# Django 6.1 configures email with MAILERS and deprecates EMAIL_BACKEND,
# get_connection() and the fail_silently/auth/connection arguments.
MAILERS = django.VERSION >= (6, 1)

ONELOOP_SMTP = "oneloop.mail.backends.smtp.EmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"

# The EMAIL_* setting of each stock backend option, for Django 5.2.
_EMAIL_SETTINGS = {
    "host": "EMAIL_HOST",
    "port": "EMAIL_PORT",
    "timeout": "EMAIL_TIMEOUT",
    "username": "EMAIL_HOST_USER",
    "password": "EMAIL_HOST_PASSWORD",
    "use_tls": "EMAIL_USE_TLS",
    "use_ssl": "EMAIL_USE_SSL",
}


def use_backend(settings: Any, backend: str, **options: Any) -> None:
    """Make ``backend`` (a dotted path) with the stock backend ``options``
    the default: ``MAILERS["default"]`` on Django 6.1, ``EMAIL_BACKEND`` and
    the matching ``EMAIL_*`` settings on 5.2. ``settings`` is pytest-django's
    fixture, which restores everything after the test."""
    if MAILERS:
        settings.MAILERS = {"default": {"BACKEND": backend, "OPTIONS": options}}
        return
    settings.EMAIL_BACKEND = backend
    for name, value in options.items():
        setattr(settings, _EMAIL_SETTINGS[name], value)


def default_backend() -> BaseEmailBackend:
    """A new instance of the default backend, the recommended way:
    ``mail.mailers.default`` on Django 6.1, ``get_connection()`` on 5.2."""
    return mail.mailers.default if MAILERS else mail.get_connection()


def build(backend_class: type[BaseEmailBackend], **options: Any) -> Any:
    """A backend made with ``options`` as Django makes it: on Django 6.1 as a
    mailer (an ``alias`` and the ``OPTIONS``, what ``mail.mailers`` passes),
    on 5.2 directly."""
    if MAILERS:
        options["alias"] = "test"
    return backend_class(**options)


def staff(*addresses: str) -> list[Any]:
    """An ``ADMINS`` or ``MANAGERS`` value: a list of addresses since Django
    6.0, of (name, address) pairs before (deprecated in 6.0)."""
    if django.VERSION >= (6, 0):
        return list(addresses)
    return [("Staff", address) for address in addresses]


def deprecated() -> contextlib.AbstractContextManager[Any]:
    """Around a call that passes an argument Django 6.1 deprecates: expect
    Django's deprecation warning there (RemovedInDjango2028Warning is a
    PendingDeprecationWarning), nothing on 5.2."""
    if MAILERS:
        return pytest.warns(PendingDeprecationWarning)
    return contextlib.nullcontext()
