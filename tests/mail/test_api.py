"""``oneloop.mail``'s async API with Django's other email backends, and the
``EmailMessage.asend`` that oneloop.install() adds."""

from __future__ import annotations

import io
import threading

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

import oneloop.mail
from oneloop.mail import (
    amail_admins,
    amail_managers,
    asend,
    asend_mail,
    asend_mass_mail,
    asend_messages,
)


class ThreadRecordingBackend(LocmemBackend):
    """A backend of the kind oneloop can't know to be loop-safe (it overrides
    send_messages): records the thread that ran it, then stores the mail."""

    threads: list[int] = []

    def send_messages(self, messages):
        self.threads.append(threading.get_ident())
        return super().send_messages(messages)


async def test_asend_mail_with_locmem_fills_the_outbox_without_a_thread():
    threads_before = set(threading.enumerate())
    sent = await asend_mail(
        "Subject", "Body", "from@example.com", ["to@example.com"], html_message="<p>"
    )
    assert sent == 1
    assert set(threading.enumerate()) == threads_before
    (message,) = mail.outbox
    assert message.subject == "Subject"
    assert message.alternatives == [("<p>", "text/html")]


async def test_asend_mail_builds_what_send_mail_builds():
    args = ("Grüße", "Body", None, ["a@example.com", "b@example.com"])
    assert mail.send_mail(*args, html_message="<b>x</b>") == 1
    assert await asend_mail(*args, html_message="<b>x</b>") == 1
    stock, ours = mail.outbox
    for attr in ("subject", "body", "from_email", "to", "alternatives"):
        assert getattr(ours, attr) == getattr(stock, attr)


async def test_asend_mail_with_no_recipients_sends_nothing():
    assert await asend_mail("S", "B", "f@example.com", []) == 0
    assert mail.outbox == []


async def test_asend_mass_mail_with_locmem():
    datatuple = [
        (f"S{n}", "B", "f@example.com", [f"t{n}@example.com"]) for n in range(3)
    ]
    assert await asend_mass_mail(datatuple) == 3
    assert [m.subject for m in mail.outbox] == ["S0", "S1", "S2"]


async def test_asend_message_with_attachments_and_alternatives():
    message = mail.EmailMultiAlternatives(
        "S", "text", "f@example.com", ["t@example.com"]
    )
    message.attach_alternative("<p>html</p>", "text/html")
    message.attach("a.bin", b"\x00\x01\x02", "application/octet-stream")
    assert await asend(message) == 1
    (sent,) = mail.outbox
    assert sent.alternatives == [("<p>html</p>", "text/html")]
    assert sent.attachments[0][:2] == ("a.bin", b"\x00\x01\x02")


async def test_a_backend_that_may_block_runs_in_a_thread(settings):
    settings.EMAIL_BACKEND = f"{__name__}.ThreadRecordingBackend"
    ThreadRecordingBackend.threads.clear()
    assert await asend_mail("S", "B", "f@example.com", ["t@example.com"]) == 1
    assert ThreadRecordingBackend.threads
    assert ThreadRecordingBackend.threads[0] != threading.get_ident()
    assert len(mail.outbox) == 1


async def test_console_backend_runs_in_a_thread_and_writes():
    stream = io.StringIO()
    connection = mail.get_connection(
        "django.core.mail.backends.console.EmailBackend", stream=stream
    )
    assert (
        await asend_mail(
            "Console", "B", "f@example.com", ["t@example.com"], connection=connection
        )
        == 1
    )
    assert "Subject: Console" in stream.getvalue()


async def test_asend_messages_with_no_messages():
    assert await asend_messages(mail.get_connection(), []) == 0


async def test_amail_admins_and_managers(settings):
    settings.ADMINS = [("Admin", "admin@example.com")]
    settings.MANAGERS = [("Manager", "manager@example.com")]
    settings.EMAIL_SUBJECT_PREFIX = "[site] "
    settings.SERVER_EMAIL = "server@example.com"
    await amail_admins("broke", "trace", html_message="<pre>trace</pre>")
    await amail_managers("fyi", "note")
    admins, managers = mail.outbox
    assert (admins.subject, admins.to, admins.from_email) == (
        "[site] broke",
        ["admin@example.com"],
        "server@example.com",
    )
    assert admins.alternatives == [("<pre>trace</pre>", "text/html")]
    assert (managers.subject, managers.to) == ("[site] fyi", ["manager@example.com"])


async def test_amail_admins_follows_django_rules(settings):
    settings.ADMINS = []
    await amail_admins("nobody", "x")
    assert mail.outbox == []
    settings.ADMINS = ["not-a-tuple@example.com"]
    with pytest.raises(ValueError) as stock_error:
        mail.mail_admins("x", "y")
    with pytest.raises(ValueError) as our_error:
        await amail_admins("x", "y")
    assert str(our_error.value) == str(stock_error.value)


async def test_install_adds_and_uninstall_removes_email_message_asend():
    assert oneloop.patches.installed()
    try:
        oneloop.uninstall()
        assert not hasattr(mail.EmailMessage, "asend")
        oneloop.install()
        oneloop.install()  # idempotent
        message = mail.EmailMultiAlternatives(
            "S", "B", "f@example.com", ["t@example.com"]
        )
        assert await message.asend() == 1
        assert len(mail.outbox) == 1
    finally:
        oneloop.install()
