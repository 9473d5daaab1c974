"""Async email for Django: ``asend_mail``, ``asend_mass_mail``, ``amail_admins``,
``amail_managers`` and ``asend(message)``.

Each mirrors its ``django.core.mail`` twin in the installed Django version:
same arguments (on Django 6.1 also ``using=``, a ``MAILERS`` alias), same
return value, same exceptions, and the backend picked as the twin picks it
(Django 6.1: ``mail.mailers[using]``, else ``mail.mailers.default``; Django
5.2: ``connection``, else ``get_connection()``). Only the sending differs:

* with oneloop's SMTP backend (``oneloop.mail.backends.smtp.EmailBackend``)
  the SMTP conversation is awaited on the loop, no thread involved;
* with Django's ``locmem`` or ``dummy`` backend (tests) the message goes
  to ``mail.outbox`` (or nowhere) directly, no thread involved;
* with any other backend (``console``, ``filebased``, third-party ones that
  block) ``send_messages`` runs in a worker thread through
  ``oneloop.offload``, so the loop never blocks.

Messages are built as Django builds them: ``asend_mail`` and
``asend_mass_mail`` make the same ``EmailMultiAlternatives`` /
``EmailMessage`` objects, and ``amail_admins`` / ``amail_managers`` call
Django's own function, so ``ADMINS``, ``EMAIL_SUBJECT_PREFIX``,
``SERVER_EMAIL`` and their validation follow the installed version.

On Django 6.1 the arguments it deprecates (``fail_silently``, ``auth_user``,
``auth_password``, ``connection``) still work: a call that passes one is
Django's own function, which warns, checks and picks its backend as it
always does (see ``_run_django``).

``install()`` adds ``EmailMessage.asend()``; ``uninstall()`` removes it.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import django
from django.core import mail as django_mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import get_connection
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
    blocking the loop; return how many were sent.

    A backend with an ``async def asend_messages`` is awaited; locmem and
    dummy run inline; any other backend's ``send_messages`` runs in a thread.
    """
    if not messages:
        return 0
    native = getattr(connection, "asend_messages", None)
    if native is not None and inspect.iscoroutinefunction(native):
        return await native(messages)
    if type(connection).send_messages in _NO_IO_SEND_MESSAGES:
        return connection.send_messages(messages) or 0
    return await run_sync(offload, connection.send_messages, messages) or 0


async def asend(
    message: EmailMessage, fail_silently: bool = False, *, using: str | None = None
) -> int:
    """``await asend(message)`` is ``message.send()`` without blocking the loop:
    works for ``EmailMessage`` and ``EmailMultiAlternatives``, with their
    attachments and alternatives. Returns the number of messages sent (0 or 1).
    """
    if not message.recipients():
        return 0  # nobody to send to: don't open a connection (as send() does)
    # The message's connection: Django 5.2 makes one if it has none; Django
    # 6.1 keeps one given to the message (deprecated) in _connection.
    if MAILERS:
        connection = vars(message).get("_connection")
    else:
        connection = message.get_connection(fail_silently)
    backend = _backend(using, connection, fail_silently)
    if backend is None:
        send = functools.partial(message.send, fail_silently, using=using)
        return await _run_django(send, connection, using)
    return await asend_messages(backend, [message])


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
    backend = _backend(using, connection, fail_silently, auth_user, auth_password)
    if backend is None:
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
            using=using,
        )
        return await _run_django(send, connection, using)
    mail = EmailMultiAlternatives(subject, message, from_email, recipient_list)
    if html_message:
        mail.attach_alternative(html_message, "text/html")
    if not mail.recipients():
        return 0  # as send() does: nothing to send, no connection opened
    return await asend_messages(backend, [mail])


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
    backend = _backend(using, connection, fail_silently, auth_user, auth_password)
    if backend is None:
        send = functools.partial(
            django_mail.send_mass_mail,
            datatuple,
            fail_silently=fail_silently,
            auth_user=auth_user,
            auth_password=auth_password,
            connection=connection,
            using=using,
        )
        return await _run_django(send, connection, using)
    messages = [
        EmailMessage(subject, body, sender, recipients)
        for subject, body, sender, recipients in datatuple
    ]
    return await asend_messages(backend, messages)


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
    build_and_send: Any,
    subject: str,
    message: str,
    fail_silently: bool,
    connection: BaseEmailBackend | None,
    html_message: str | None,
    using: str | None,
) -> None:
    """Let Django's own function build the messages (its checks, its subject
    prefix), then send them async.

    Django 5.2 takes a connection: the function sends into one that collects
    the messages, and oneloop sends those. Django 6.1 takes its backend from
    MAILERS itself (handing it a connection is deprecated), so the function
    sends, run where its backend does not block the loop (``_run_django``).
    """
    if MAILERS:
        send = functools.partial(
            build_and_send,
            subject,
            message,
            fail_silently=fail_silently,
            connection=connection,
            html_message=html_message,
            using=using,
        )
        await _run_django(send, connection, using)
        return
    _check_using(using)
    collect = _Collect()
    build_and_send(
        subject,
        message,
        fail_silently=fail_silently,
        connection=collect,
        html_message=html_message,
    )
    for mail in _bind(collect.messages, connection):
        await asend(mail, fail_silently=fail_silently)


class _Collect(BaseEmailBackend):
    """A backend that keeps the messages it is given. On Django 5.2,
    Django's staff functions build the messages into it; oneloop then sends
    them asynchronously."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[EmailMessage] = []

    def send_messages(self, email_messages: Iterable[EmailMessage]) -> int:
        email_messages = list(email_messages)
        self.messages.extend(email_messages)
        return len(email_messages)


def _bind(
    messages: list[EmailMessage], connection: BaseEmailBackend | None
) -> list[EmailMessage]:
    # The messages were built against the collecting backend; from now on
    # they belong to the real one (``None``: EmailMessage picks the default).
    for mail in messages:
        mail.connection = connection
    return messages


def _check_using(using: str | None) -> None:
    """Refuse ``using=`` on Django 5.2, which has no MAILERS, rather than
    send through a backend the caller did not ask for."""
    if using is not None and not MAILERS:
        raise TypeError(
            "using= names a MAILERS alias, which needs Django 6.1 or later."
        )


def _backend(
    using: str | None,
    connection: BaseEmailBackend | None = None,
    fail_silently: bool = False,
    auth_user: str | None = None,
    auth_password: str | None = None,
) -> BaseEmailBackend | None:
    """The backend the sync twin sends through, picked as it picks it.

    Django 5.2: the ``connection`` given, else ``get_connection()`` with the
    other arguments. Django 6.1: the mailer ``using`` names, else the default
    mailer; ``None`` when the call passes an argument Django 6.1 deprecates:
    the caller then runs the twin itself (``_run_django``).
    """
    _check_using(using)
    if not MAILERS:
        return connection or get_connection(
            username=auth_user, password=auth_password, fail_silently=fail_silently
        )
    if (
        connection is not None
        or fail_silently
        or auth_user is not None
        or auth_password is not None
    ):
        return None
    return _mailer(using)


def _mailer(using: str | None) -> BaseEmailBackend:
    """Django 6.1's pick: ``mailers[using]``, else ``mailers.default`` (a new
    backend instance each time, as Django's own functions get)."""
    mailers = django_mail.mailers
    return mailers.default if using is None else mailers[using]


async def _run_django(
    send: Callable[[], T], connection: BaseEmailBackend | None, using: str | None
) -> T:
    """Await ``send()``, a call of Django's own sync mail function, which
    picks its backend, builds and sends the message, warning and checking
    its arguments as it always does (Django 6.1, see ``_backend``).

    It runs on the loop, in a bridge, when the backend it will use (the
    ``connection`` given, else the mailer ``using`` names) sends without
    blocking there; otherwise in a worker thread.
    """
    backend = connection
    if backend is None:
        try:
            backend = _mailer(using)
        except ImproperlyConfigured:
            pass  # no such mailer: ``send()`` raises (or returns) as Django does
    if backend is not None and _sends_on_the_loop(backend):
        return await run_sync(send)
    return await run_sync(offload, send)


def _sends_on_the_loop(backend: BaseEmailBackend) -> bool:
    """Whether ``backend.send_messages`` may run in a bridge: locmem and dummy
    do no IO, and oneloop's SMTP backend awaits its conversation on the loop
    there."""
    send_messages = type(backend).send_messages
    smtp = sys.modules.get("oneloop.mail.backends.smtp")  # loaded when in use
    return send_messages in _NO_IO_SEND_MESSAGES or (
        smtp is not None and send_messages is smtp.EmailBackend.send_messages
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
