"""Translate aiosmtplib's exceptions into the ones ``smtplib`` raises.

Code that sends mail through Django catches ``smtplib`` exceptions
(``SMTPRecipientsRefused``, ``SMTPServerDisconnected``, ``OSError`` ...),
because that is what Django's stock SMTP backend raises. oneloop's backend
talks to the server with aiosmtplib, whose exceptions form a different tree,
so every failure is re-raised as the class the stock backend would raise for
the same server behaviour, with the same arguments (codes as ``int``, server
replies as ``bytes``, as ``smtplib`` gives them).
"""

from __future__ import annotations

import smtplib

import aiosmtplib

__all__ = ["SMTPTimeoutError", "reply_bytes", "to_smtplib"]


class SMTPTimeoutError(smtplib.SMTPServerDisconnected, TimeoutError):
    """The SMTP server did not answer within the backend's ``timeout``.

    Django's stock backend reports a read timeout as
    ``smtplib.SMTPServerDisconnected`` (``smtplib`` turns the socket timeout
    into it); this subclass keeps that and is also a ``TimeoutError``, so
    either ``except`` clause catches it.
    """


def reply_bytes(message: str) -> bytes:
    # smtplib hands server replies over as bytes; aiosmtplib decodes them.
    return message.encode("utf-8", "surrogateescape")


def to_smtplib(exc: aiosmtplib.SMTPException) -> OSError:
    """The exception Django's stock SMTP backend raises where aiosmtplib
    raised ``exc``. The caller raises it ``from exc``."""
    # Connecting: stock lets the socket's own OSError (refused, unreachable,
    # TLS handshake failure) or TimeoutError escape.
    if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError):
        if isinstance(exc.__cause__, aiosmtplib.SMTPTimeoutError):
            # Connected, but no greeting in time.
            return SMTPTimeoutError(f"Connection unexpectedly closed: {exc.message}")
        return TimeoutError(exc.message)
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return smtplib.SMTPConnectError(exc.code, reply_bytes(exc.message))
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        cause = exc.__cause__
        if isinstance(cause, aiosmtplib.SMTPServerDisconnected):
            return smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        if isinstance(cause, OSError) and not isinstance(
            cause, aiosmtplib.SMTPException
        ):
            return cause
        return smtplib.SMTPServerDisconnected(exc.message)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return SMTPTimeoutError(f"Connection unexpectedly closed: {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return smtplib.SMTPServerDisconnected(exc.message)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return smtplib.SMTPRecipientsRefused(
            {r.recipient: (r.code, reply_bytes(r.message)) for r in exc.recipients}
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return smtplib.SMTPRecipientsRefused(
            {exc.recipient: (exc.code, reply_bytes(exc.message))}
        )
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return smtplib.SMTPSenderRefused(exc.code, reply_bytes(exc.message), exc.sender)
    for ours, theirs in _RESPONSE_ERRORS:
        if isinstance(exc, ours):
            return theirs(exc.code, reply_bytes(exc.message))
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return smtplib.SMTPNotSupportedError(exc.message)
    return smtplib.SMTPException(exc.message)


_RESPONSE_ERRORS: tuple[tuple[type, type], ...] = (
    (aiosmtplib.SMTPDataError, smtplib.SMTPDataError),
    (aiosmtplib.SMTPAuthenticationError, smtplib.SMTPAuthenticationError),
    (aiosmtplib.SMTPHeloError, smtplib.SMTPHeloError),
    (aiosmtplib.SMTPResponseException, smtplib.SMTPResponseException),
)
