"""An email backend that keeps every sent message in the ``SentEmail`` table,
so the ``/outbox/`` page can show what the shop sent, from any worker process.

``oneloop.mail.asend_mail`` awaits a backend's ``async def asend_messages``
when it has one, so sending from an async view writes the row through the
async ORM without a thread. Sync ``send_mail`` uses ``send_messages``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from shop.models import SentEmail

logger = logging.getLogger(__name__)


def _row(message: EmailMessage) -> SentEmail:
    return SentEmail(
        from_email=message.from_email,
        to=", ".join(message.recipients()),
        subject=message.subject,
        body=str(message.body),
    )


class OutboxEmailBackend(BaseEmailBackend):
    """Store messages instead of delivering them; log one line for each."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            _row(message).save()
            logger.info("mail to %s: %s", message.recipients(), message.subject)
        return len(email_messages)

    async def asend_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            await _row(message).asave()
            logger.info("mail to %s: %s", message.recipients(), message.subject)
        return len(email_messages)
