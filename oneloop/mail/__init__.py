"""Async email for Django: ``asend_mail``, ``asend_mass_mail``, ``amail_admins``,
``amail_managers``, ``asend(message)`` and ``asend_messages(backend, ...)``.

Each one is its ``django.core.mail`` twin, run by oneloop: ``await
asend_mail(...)`` is ``run_sync(django.core.mail.send_mail, ...)``. Django's
own function of the installed version picks the backend (``using=`` on
Django 6.1), builds the message, checks and warns as it always does, and
returns what it returns. Where it runs depends on the backend it will pick:

* oneloop's SMTP backend (``oneloop.mail.backends.smtp.EmailBackend``),
  Django's ``locmem`` or ``dummy``: in a bridge on the loop, no thread (the
  SMTP conversation is awaited there, the others do no IO);
* a backend with its own ``async def asend_messages`` (an async-native
  third-party backend): that coroutine is awaited with the messages;
* any other backend (``console``, ``filebased``, Django's ``smtp``,
  third-party ones that block): in a worker thread (``oneloop.offload``), so
  the loop never blocks.

``install()`` adds ``EmailMessage.asend()``; ``uninstall()`` removes it.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import django
from django.core import mail as django_mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends import dummy, locmem
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage, EmailMultiAlternatives

from oneloop.bridge import offload, run_sync

__all__ = [
    "amail_admins",
    "amail_managers",
    "asend",
    "asend_mail",
    "asend_mass_mail",
    "asend_messages",
]

T = TypeVar("T")

# Django 6.1 configures email with the MAILERS setting and picks a backend
# with ``mail.mailers`` and ``using=``; there get_connection(), EMAIL_BACKEND
# and the fail_silently, auth_user, auth_password and connection arguments
# are deprecated.
MAILERS = django.VERSION >= (6, 1)

# Backends whose send_messages does no IO at all: called on the loop directly.
_NO_IO_SEND_MESSAGES = frozenset(
    {locmem.EmailBackend.send_messages, dummy.EmailBackend.send_messages}
)


async def asend_messages(
    connection: BaseEmailBackend, messages: Sequence[EmailMessage]
) -> int:
    """Send ``messages`` through ``connection`` (any email backend) without
    blocking the loop; return how many were sent."""
    if not messages:
        return 0
    if _native(connection):
        return await connection.asend_messages(messages)  # type: ignore[attr-defined]
    send = functools.partial(connection.send_messages, messages)
    return await _run(send, connection) or 0


async def asend(
    message: EmailMessage, fail_silently: bool = False, *, using: str | None = None
) -> int:
    """``await asend(message)`` is ``message.send()`` without blocking the loop:
    works for ``EmailMessage`` and ``EmailMultiAlternatives``, with their
    attachments and alternatives. Returns the number of messages sent (0 or 1).
    """
    _check_using(using)
    if not message.recipients():
        return 0  # nobody to send to: no backend needed (as send() does)
    # A connection given to the message (deprecated on Django 6.1, where it
    # is kept in _connection).
    connection = vars(message).get("_connection" if MAILERS else "connection")
    backend = _picked(using, connection, fail_silently)
    if _native(backend) and not _deprecated(connection, fail_silently):
        return await backend.asend_messages([message])  # type: ignore[union-attr]
    send = functools.partial(message.send, fail_silently, **_using(using))
    return await _run(send, backend)


async def asend_mail(
    subject: str,
    message: str,
    from_email: str | None,
    recipient_list: Sequence[str],
    fail_silently: bool = False,
    auth_user: str | None = None,
    auth_password: str | None = None,
    connection: BaseEmailBackend | None = None,
    html_message: str | None = None,
    *,
    using: str | None = None,
) -> int:
    """Async ``django.core.mail.send_mail``: send one message (with an HTML
    alternative if ``html_message`` is given) to ``recipient_list``; return
    the number of messages sent."""
    _check_using(using)
    backend = _picked(using, connection, fail_silently, auth_user, auth_password)
    if _native(backend) and not _deprecated(
        connection, fail_silently, auth_user, auth_password
    ):
        # The message send_mail builds, for the backend's own coroutine.
        mail = EmailMultiAlternatives(subject, message, from_email, recipient_list)
        if html_message:
            mail.attach_alternative(html_message, "text/html")
        return await asend_messages(backend, [mail] if mail.recipients() else [])
    send = functools.partial(
        django_mail.send_mail,
        subject,
        message,
        from_email,
        recipient_list,
        fail_silently=fail_silently,
        auth_user=auth_user,
        auth_password=auth_password,
        connection=connection,
        html_message=html_message,
        **_using(using),
    )
    return await _run(send, backend)


async def asend_mass_mail(
    datatuple: Iterable[tuple[str, str, str | None, Sequence[str]]],
    fail_silently: bool = False,
    auth_user: str | None = None,
    auth_password: str | None = None,
    connection: BaseEmailBackend | None = None,
    *,
    using: str | None = None,
) -> int:
    """Async ``django.core.mail.send_mass_mail``: one message per
    ``(subject, message, from_email, recipient_list)`` tuple, all over one
    connection; return the number sent."""
    _check_using(using)
    backend = _picked(using, connection, fail_silently, auth_user, auth_password)
    if _native(backend) and not _deprecated(
        connection, fail_silently, auth_user, auth_password
    ):
        # The messages send_mass_mail builds, for the backend's own coroutine.
        messages = [EmailMessage(*fields) for fields in datatuple]
        return await asend_messages(backend, messages)  # type: ignore[arg-type]
    send = functools.partial(
        django_mail.send_mass_mail,
        datatuple,
        fail_silently=fail_silently,
        auth_user=auth_user,
        auth_password=auth_password,
        connection=connection,
        **_using(using),
    )
    return await _run(send, backend)


async def amail_admins(
    subject: str,
    message: str,
    fail_silently: bool = False,
    connection: BaseEmailBackend | None = None,
    html_message: str | None = None,
    *,
    using: str | None = None,
) -> None:
    """Async ``django.core.mail.mail_admins``: mail the ``ADMINS`` (nothing
    if there are none)."""
    await _amail_staff(
        django_mail.mail_admins,
        subject,
        message,
        fail_silently,
        connection,
        html_message,
        using,
    )


async def amail_managers(
    subject: str,
    message: str,
    fail_silently: bool = False,
    connection: BaseEmailBackend | None = None,
    html_message: str | None = None,
    *,
    using: str | None = None,
) -> None:
    """Async ``django.core.mail.mail_managers``: mail the ``MANAGERS``
    (nothing if there are none)."""
    await _amail_staff(
        django_mail.mail_managers,
        subject,
        message,
        fail_silently,
        connection,
        html_message,
        using,
    )


async def _amail_staff(
    mail_staff: Callable[..., None],
    subject: str,
    message: str,
    fail_silently: bool,
    connection: BaseEmailBackend | None,
    html_message: str | None,
    using: str | None,
) -> None:
    """Run Django's ``mail_admins`` or ``mail_managers``, which read, check
    and format the setting as the installed version does."""
    _check_using(using)
    send = functools.partial(
        mail_staff,
        subject,
        message,
        fail_silently=fail_silently,
        connection=connection,
        html_message=html_message,
        **_using(using),
    )
    await _run(send, _picked(using, connection, fail_silently))


def _check_using(using: str | None) -> None:
    """Refuse ``using=`` on Django 5.2, which has no MAILERS, rather than
    send through a backend the caller did not ask for."""
    if using is not None and not MAILERS:
        raise TypeError(
            "using= names a MAILERS alias, which needs Django 6.1 or later; "
            "before that, pass connection= (a backend) instead."
        )


def _using(using: str | None) -> dict[str, str]:
    # Django 5.2's functions have no using= argument at all.
    return {} if using is None else {"using": using}


def _deprecated(
    connection: BaseEmailBackend | None,
    fail_silently: bool,
    auth_user: str | None = None,
    auth_password: str | None = None,
) -> bool:
    """Whether the call passes an argument Django 6.1 deprecates: then
    Django's own function must run, to warn and check as it does."""
    return MAILERS and (
        connection is not None
        or bool(fail_silently)
        or auth_user is not None
        or auth_password is not None
    )


def _picked(
    using: str | None,
    connection: BaseEmailBackend | None,
    fail_silently: bool = False,
    auth_user: str | None = None,
    auth_password: str | None = None,
) -> BaseEmailBackend | None:
    """The backend Django's function will send through, picked as it picks
    it: the ``connection`` given; else on Django 6.1 the mailer ``using``
    names (or the default one), on 5.2 ``get_connection()`` with the call's
    arguments. ``None`` when there is no such mailer: Django's function then
    raises (or returns) as it does."""
    if connection is not None:
        return connection
    try:
        if MAILERS:
            mailers = django_mail.mailers
            return mailers.default if using is None else mailers[using]
        return django_mail.get_connection(
            username=auth_user, password=auth_password, fail_silently=fail_silently
        )
    except ImproperlyConfigured:
        return None


def _native(backend: BaseEmailBackend | None) -> bool:
    """Whether ``backend`` has its own ``async def asend_messages``."""
    return inspect.iscoroutinefunction(getattr(backend, "asend_messages", None))


async def _run(send: Callable[[], T], backend: BaseEmailBackend | None) -> T:
    """Await ``send()``, a sync call that sends through ``backend``: in a
    bridge on the loop when that backend does not block there (locmem,
    dummy, oneloop's SMTP backend), else in a worker thread."""
    if backend is not None and _sends_on_the_loop(type(backend)):
        return await run_sync(send)
    return await run_sync(offload, send)


def _sends_on_the_loop(backend_class: type[BaseEmailBackend]) -> bool:
    smtp = sys.modules.get("oneloop.mail.backends.smtp")  # loaded when in use
    return backend_class.send_messages in _NO_IO_SEND_MESSAGES or (
        smtp is not None and issubclass(backend_class, smtp.EmailBackend)
    )


async def _email_message_asend(
    self: EmailMessage, fail_silently: bool = False, *, using: str | None = None
) -> int:
    """Send this message without blocking the event loop; the async twin of
    ``send()``. Added to ``EmailMessage`` by ``oneloop.install()``."""
    return await asend(self, fail_silently=fail_silently, using=using)


_email_message_asend.__name__ = "asend"
_email_message_asend.__qualname__ = "EmailMessage.asend"


# Applied by oneloop.patches.install(), undone by uninstall().
PATCHES = [(EmailMessage, "asend", _email_message_asend)]
