"""Async email for Django: ``asend_mail``, ``asend_mass_mail``, ``amail_admins``,
``amail_managers`` and ``asend(message)``.

Each mirrors its ``django.core.mail`` twin: same arguments, same return value,
same exceptions. The message is built by Django's own function (so settings
such as ``ADMINS``, ``EMAIL_SUBJECT_PREFIX``, ``SERVER_EMAIL`` and their
validation follow the installed Django version); only the sending differs:

* with oneloop's SMTP backend (``oneloop.mail.backends.smtp.EmailBackend``)
  the SMTP conversation is awaited on the loop, no thread involved;
* with Django's ``locmem`` or ``dummy`` backend (tests) the message goes
  to ``mail.outbox`` (or nowhere) directly, no thread involved;
* with any other backend (``console``, ``filebased``, third-party ones that
  block) ``send_messages`` runs in a worker thread through
  ``oneloop.offload``, so the loop never blocks.

``install()`` adds ``EmailMessage.asend()``; ``uninstall()`` removes it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import Any

from django.core import mail as django_mail
from django.core.mail import get_connection
from django.core.mail.backends import dummy, locmem
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from oneloop.bridge import offload, run_sync

__all__ = [
    "amail_admins",
    "amail_managers",
    "asend",
    "asend_mail",
    "asend_mass_mail",
    "asend_messages",
]

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


async def asend(message: EmailMessage, fail_silently: bool = False) -> int:
    """``await asend(message)`` is ``message.send()`` without blocking the loop:
    works for ``EmailMessage`` and ``EmailMultiAlternatives``, with their
    attachments and alternatives. Returns the number of messages sent (0 or 1).
    """
    if not message.recipients():
        return 0  # nobody to send to: don't open a connection (as send() does)
    return await asend_messages(message.get_connection(fail_silently), [message])


class _Collect(BaseEmailBackend):
    """A backend that keeps the messages it is given. Django's own helpers
    build the messages into it; oneloop then sends them asynchronously."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[EmailMessage] = []

    def send_messages(self, email_messages: Iterable[EmailMessage]) -> int:
        email_messages = list(email_messages)
        self.messages.extend(email_messages)
        return len(email_messages)


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
) -> int:
    """Async ``django.core.mail.send_mail``: send one message (with an HTML
    alternative if ``html_message`` is given) to ``recipient_list``; return
    the number of messages sent."""
    connection = connection or get_connection(
        username=auth_user, password=auth_password, fail_silently=fail_silently
    )
    collect = _Collect()
    django_mail.send_mail(
        subject,
        message,
        from_email,
        recipient_list,
        fail_silently=fail_silently,
        connection=collect,
        html_message=html_message,
    )
    return await asend_messages(connection, _bind(collect.messages, connection))


async def asend_mass_mail(
    datatuple: Iterable[tuple[str, str, str | None, Sequence[str]]],
    fail_silently: bool = False,
    auth_user: str | None = None,
    auth_password: str | None = None,
    connection: BaseEmailBackend | None = None,
) -> int:
    """Async ``django.core.mail.send_mass_mail``: one message per
    ``(subject, message, from_email, recipient_list)`` tuple, all over one
    connection; return the number sent."""
    connection = connection or get_connection(
        username=auth_user, password=auth_password, fail_silently=fail_silently
    )
    collect = _Collect()
    django_mail.send_mass_mail(
        datatuple, fail_silently=fail_silently, connection=collect
    )
    return await asend_messages(connection, _bind(collect.messages, connection))


async def amail_admins(
    subject: str,
    message: str,
    fail_silently: bool = False,
    connection: BaseEmailBackend | None = None,
    html_message: str | None = None,
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
    )


async def amail_managers(
    subject: str,
    message: str,
    fail_silently: bool = False,
    connection: BaseEmailBackend | None = None,
    html_message: str | None = None,
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
    )


async def _amail_staff(
    build_and_send: Any,
    subject: str,
    message: str,
    fail_silently: bool,
    connection: BaseEmailBackend | None,
    html_message: str | None,
) -> None:
    """Let Django's own function build the messages (its checks, its subject
    prefix), collecting them instead of sending, then send them async."""
    collect = _Collect()
    build_and_send(
        subject,
        message,
        fail_silently=fail_silently,
        connection=collect,
        html_message=html_message,
    )
    await _asend_collected(collect, connection, fail_silently)


async def _asend_collected(
    collect: _Collect, connection: BaseEmailBackend | None, fail_silently: bool
) -> None:
    for mail in _bind(collect.messages, connection):
        await asend(mail, fail_silently=fail_silently)


def _bind(
    messages: list[EmailMessage], connection: BaseEmailBackend | None
) -> list[EmailMessage]:
    # The messages were built against the collecting backend; from now on
    # they belong to the real one (``None``: EmailMessage picks the default).
    for mail in messages:
        mail.connection = connection
    return messages


async def _email_message_asend(self: EmailMessage, fail_silently: bool = False) -> int:
    """Send this message without blocking the event loop; the async twin of
    ``send()``. Added to ``EmailMessage`` by ``oneloop.install()``."""
    return await asend(self, fail_silently=fail_silently)


_email_message_asend.__name__ = "asend"
_email_message_asend.__qualname__ = "EmailMessage.asend"


# Applied by oneloop.patches.install(), undone by uninstall().
PATCHES = [(EmailMessage, "asend", _email_message_asend)]
