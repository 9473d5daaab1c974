"""``oneloop.mail``'s async API with Django's other email backends, and the
``EmailMessage.asend`` that oneloop.install() adds."""

from __future__ import annotations

import io
import threading

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
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
from tests.mail.config import (
    LOCMEM,
    MAILERS,
    default_backend,
    deprecated,
    staff,
    use_backend,
)

CONSOLE = "django.core.mail.backends.console.EmailBackend"


class ThreadRecordingBackend(LocmemBackend):
    """A backend of the kind oneloop can't know to be loop-safe (it overrides
    send_messages): records the thread that ran it, then stores the mail."""

    threads: list[int] = []

    def send_messages(self, messages):
        self.threads.append(threading.get_ident())
        return super().send_messages(messages)


class AsyncNativeBackend(LocmemBackend):
    """A third-party backend with its own coroutine: records which path sent
    each message, then stores it."""

    sent: list[tuple[str, str]] = []

    def send_messages(self, messages):
        self.sent.extend(("sync", message.subject) for message in messages)
        return super().send_messages(messages)

    async def asend_messages(self, messages):
        self.sent.extend(("async", message.subject) for message in messages)
        return super().send_messages(messages)


async def test_asend_mail_with_locmem_fills_the_outbox_without_a_thread(new_threads):
    sent = await asend_mail(
        "Subject", "Body", "from@example.com", ["to@example.com"], html_message="<p>"
    )
    assert sent == 1
    assert not new_threads(), "a thread was started"
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
    use_backend(settings, f"{__name__}.ThreadRecordingBackend")
    settings.ADMINS = staff("a@example.com")
    ThreadRecordingBackend.threads.clear()
    assert await asend_mail("S", "B", "f@example.com", ["t@example.com"]) == 1
    await amail_admins("S", "B")
    assert len(ThreadRecordingBackend.threads) == 2
    assert threading.get_ident() not in ThreadRecordingBackend.threads
    assert len(mail.outbox) == 2


async def test_a_backend_with_its_own_asend_messages_is_awaited(settings):
    use_backend(settings, f"{__name__}.AsyncNativeBackend")
    settings.ADMINS = staff("a@example.com")
    settings.EMAIL_SUBJECT_PREFIX = ""
    AsyncNativeBackend.sent.clear()
    to = ["t@example.com"]
    assert await asend_mail("S1", "B", "f@example.com", to) == 1
    assert await asend_mass_mail([("S2", "B", None, to), ("S3", "B", None, to)]) == 2
    assert await asend(mail.EmailMessage("S4", "B", to=to)) == 1
    # Django's own function sends the staff mail, through send_messages.
    await amail_admins("S5", "B")
    assert AsyncNativeBackend.sent == [
        ("async", "S1"),
        ("async", "S2"),
        ("async", "S3"),
        ("async", "S4"),
        ("sync", "S5"),
    ]
    assert len(mail.outbox) == 5


async def test_console_backend_runs_in_a_thread_and_writes(settings):
    stream = io.StringIO()
    if MAILERS:  # Django 6.1: the stream is an option of the mailer
        use_backend(settings, CONSOLE, stream=stream)
        kwargs = {}
    else:  # Django 5.2 has no setting for it: pass a connection
        kwargs = {"connection": mail.get_connection(CONSOLE, stream=stream)}
    args = ("Console", "B", "f@example.com", ["t@example.com"])
    assert await asend_mail(*args, **kwargs) == 1
    assert "Subject: Console" in stream.getvalue()


async def test_asend_messages_with_no_messages():
    assert await asend_messages(default_backend(), []) == 0


async def test_amail_admins_and_managers(settings):
    settings.ADMINS = staff("admin@example.com")
    settings.MANAGERS = staff("manager@example.com")
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
    settings.ADMINS = "admin@example.com"  # a string, not a list: never valid
    with pytest.raises((ValueError, ImproperlyConfigured)) as stock_error:
        mail.mail_admins("x", "y")
    with pytest.raises(type(stock_error.value)) as our_error:
        await amail_admins("x", "y")
    assert str(our_error.value) == str(stock_error.value)


async def test_using_picks_the_mailer_as_django_does(settings):
    message = mail.EmailMessage("S", "B", "f@example.com", ["t@example.com"])
    if not MAILERS:
        with pytest.raises(TypeError, match=r"needs Django 6\.1"):
            await asend(message, using="other")
        return
    settings.MAILERS = {"default": {"BACKEND": LOCMEM}, "other": {"BACKEND": LOCMEM}}
    settings.ADMINS = settings.MANAGERS = staff("staff@example.com")
    args = ("S", "B", "f@example.com", ["t@example.com"])
    mail.send_mail(*args, using="other")
    assert await asend_mail(*args, using="other") == 1
    assert await asend_mass_mail([args, args], using="other") == 2
    await amail_admins("S", "B", using="other")
    await amail_managers("S", "B", using="other")
    assert await asend(message, using="other") == 1
    assert await asend(message) == 1
    # locmem records the alias of the mailer that sent each message.
    assert [m.sent_using for m in mail.outbox] == ["other"] * 7 + ["default"]
    with pytest.raises(mail.MailerDoesNotExist) as stock_error:
        mail.send_mail(*args, using="missing")
    with pytest.raises(mail.MailerDoesNotExist) as our_error:
        await asend_mail(*args, using="missing")
    assert str(our_error.value) == str(stock_error.value)


async def test_deprecated_arguments_work_as_in_django(settings):
    # Django 6.1 deprecates them (and warns); Django 5.2 does not.
    settings.ADMINS = settings.MANAGERS = staff("staff@example.com")
    args = ("S", "B", "f@example.com", ["t@example.com"])
    connection = default_backend()
    with deprecated():
        assert await asend_mail(*args, connection=connection) == 1
    with deprecated():
        assert await asend_mail(*args, fail_silently=True) == 1
    with deprecated():
        assert await asend_mail(*args, auth_user="u", auth_password="p") == 1
    with deprecated():
        assert await asend_mass_mail([args], connection=connection) == 1
    with deprecated():
        await amail_admins("S", "B", fail_silently=True)
    with deprecated():
        await amail_managers("S", "B", connection=connection)
    with deprecated():
        assert await asend(mail.EmailMessage(*args), fail_silently=True) == 1
    assert len(mail.outbox) == 7
    if MAILERS:
        # Django's checks apply, with Django's messages.
        with deprecated(), pytest.raises(TypeError) as stock_error:
            mail.send_mail(*args, connection=connection, using="default")
        with deprecated(), pytest.raises(TypeError) as our_error:
            await asend_mail(*args, connection=connection, using="default")
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
