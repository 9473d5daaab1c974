"""oneloop's SMTP backend against a real SMTP server (aiosmtpd on loopback),
side by side with Django's stock SMTP backend."""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
import threading
import time

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.smtp import EmailBackend as StockBackend
from django.core.mail.utils import DNS_NAME

from oneloop.bridge import run_sync
from oneloop.mail import (
    amail_admins,
    asend,
    asend_mail,
    asend_mass_mail,
    asend_messages,
)
from oneloop.mail.backends.smtp import EmailBackend, SMTPTimeoutError
from tests.mail.config import (
    MAILERS,
    ONELOOP_SMTP,
    build,
    default_backend,
    deprecated,
    staff,
    use_backend,
)
from tests.mail.server import HOST, PASSWORD, USERNAME, Handler, free_port

pytestmark = pytest.mark.smtp

PNG = bytes(range(256)) * 4  # binary attachment: every byte value


def rich_message(n: int = 0, connection=None) -> mail.EmailMultiAlternatives:
    """A message using every part of Django's message building: non-ASCII
    subject and body, cc/bcc/reply-to, a custom header, an HTML alternative,
    a text and a binary attachment."""
    message = mail.EmailMultiAlternatives(
        subject=f"Grüße #{n}",
        body=f"Hello {n}, ünïcödé body.\n.leading dot line\n",
        from_email="Sender Näme <sender@example.com>",
        to=[f"to{n}@example.com", "Other <other@example.com>"],
        cc=["cc@example.com"],
        bcc=["hidden@example.com"],
        reply_to=["reply@example.com"],
        headers={"X-Oneloop-Test": str(n)},
        connection=connection,
    )
    message.attach_alternative(f"<p>Hello <b>{n}</b></p>", "text/html")
    message.attach("notes.txt", f"notes for {n}\n", "text/plain")
    message.attach("pixel.png", PNG, "image/png")
    return message


def assert_rich_message_received(received, n: int) -> None:
    assert received.mail_from == "sender@example.com"
    assert received.rcpt_tos == [
        f"to{n}@example.com",
        "other@example.com",
        "cc@example.com",
        "hidden@example.com",
    ]
    msg = received.parsed()
    assert msg["Subject"] == f"Grüße #{n}"
    assert msg["From"] == "Sender Näme <sender@example.com>"
    assert msg["To"] == f"to{n}@example.com, Other <other@example.com>"
    assert msg["Cc"] == "cc@example.com"
    assert msg["Bcc"] is None  # never in the headers
    assert msg["Reply-To"] == "reply@example.com"
    assert msg["X-Oneloop-Test"] == str(n)
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert body.get_content() == f"Hello {n}, ünïcödé body.\n.leading dot line\n"
    assert text(html) == f"<p>Hello <b>{n}</b></p>"
    attachments = {
        part.get_filename(): (part.get_content_type(), part.get_content())
        for part in msg.iter_attachments()
    }
    assert attachments == {
        "notes.txt": ("text/plain", f"notes for {n}\n"),
        "pixel.png": ("image/png", PNG),
    }


def text(part) -> str:
    """A text part's content as it was given: Django 6 ends every text part
    with a newline, Django 5.2 sends it unchanged."""
    return part.get_content().removesuffix("\n")


def normalized(content: bytes) -> bytes:
    """Message bytes with the random MIME boundaries replaced by fixed names."""
    boundaries = re.findall(rb'boundary="([^"]+)"', content)
    for i, boundary in enumerate(boundaries):
        content = content.replace(boundary, b"BOUNDARY-%d" % i)
    return content


# -- concurrency and integrity ---------------------------------------------


async def test_20_asend_mail_run_concurrently_and_arrive_intact(
    mail_settings, smtp_server
):
    smtp_server.handler.data_delay = 0.2
    DNS_NAME.get_fqdn()
    start = time.perf_counter()
    counts = await asyncio.gather(
        *(
            asend_mail(
                f"Subject {n} · ✓",
                f"Body {n}\n",
                "from@example.com",
                [f"rcpt{n}@example.com"],
                html_message=f"<h1>{n}</h1>",
            )
            for n in range(20)
        )
    )
    elapsed = time.perf_counter() - start
    assert counts == [1] * 20
    assert elapsed < 1.0, f"20 sends delayed 0.2 s each took {elapsed:.2f} s"
    assert len(smtp_server.received) == 20
    by_rcpt = {r.rcpt_tos[0]: r for r in smtp_server.received}
    for n in range(20):
        msg = by_rcpt[f"rcpt{n}@example.com"].parsed()
        assert msg["Subject"] == f"Subject {n} · ✓"
        assert msg["From"] == "from@example.com"
        assert msg.get_body(("plain",)).get_content() == f"Body {n}\n"
        assert text(msg.get_body(("html",))) == f"<h1>{n}</h1>"


async def test_asend_rich_messages_concurrently(mail_settings, smtp_server):
    smtp_server.handler.data_delay = 0.2
    start = time.perf_counter()
    assert (
        await asyncio.gather(*(asend(rich_message(n)) for n in range(10))) == [1] * 10
    )
    assert time.perf_counter() - start < 1.0
    by_subject = {r.parsed()["Subject"]: r for r in smtp_server.received}
    for n in range(10):
        assert_rich_message_received(by_subject[f"Grüße #{n}"], n)


async def test_same_bytes_and_envelope_as_the_stock_backend(settings, smtp_server):
    settings.EMAIL_USE_LOCALTIME = True
    settings.DEFAULT_CHARSET = "iso-8859-1"
    fixed = {"Date": "Tue, 01 Jul 2025 10:00:00 +0200", "Message-ID": "<1@example>"}
    stock = build(StockBackend, host=HOST, port=smtp_server.port)
    ours = build(EmailBackend, host=HOST, port=smtp_server.port)
    for backend in (stock, ours):
        message = rich_message(7)
        message.extra_headers.update(fixed)
        if backend is stock:
            sent = await asyncio.to_thread(backend.send_messages, [message])
        else:
            sent = await asend_messages(backend, [message])
        assert sent == 1
    stock_got, ours_got = smtp_server.received
    assert ours_got.mail_from == stock_got.mail_from
    assert ours_got.rcpt_tos == stock_got.rcpt_tos
    assert [o.lower() for o in ours_got.mail_options] == [
        o.lower() for o in stock_got.mail_options
    ]
    assert normalized(ours_got.content) == normalized(stock_got.content)
    assert b'charset="iso-8859-1"' in ours_got.content
    assert_rich_message_received(ours_got, 7)


# -- failures: the stock exception classes ----------------------------------


def _refuse_recipient(handler: Handler) -> None:
    handler.refuse_recipients = {"to@example.com"}


def _refuse_sender(handler: Handler) -> None:
    handler.refuse_senders = {"from@example.com"}


def _reject_data(handler: Handler) -> None:
    handler.reject_data = True


def _drop(handler: Handler) -> None:
    handler.drop_on_data = True


def _hang(handler: Handler) -> None:
    handler.hang_on_data = True


FAILURES = [
    # (case, server behaviour, backend options, the class stock raises)
    ("refused recipient", _refuse_recipient, {}, smtplib.SMTPRecipientsRefused),
    ("refused sender", _refuse_sender, {}, smtplib.SMTPSenderRefused),
    ("rejected data", _reject_data, {}, smtplib.SMTPDataError),
    ("dropped connection", _drop, {}, smtplib.SMTPServerDisconnected),
    ("timeout", _hang, {"timeout": 0.5}, smtplib.SMTPServerDisconnected),
    (
        "bad password",
        None,
        {"username": USERNAME, "password": "wrong"},
        smtplib.SMTPAuthenticationError,
    ),
    ("no STARTTLS", None, {"use_tls": True}, smtplib.SMTPNotSupportedError),
    ("nobody listening", None, {"port": "closed"}, ConnectionRefusedError),
]


def _backends(start_smtp_server, behave, options, **extra):
    server = start_smtp_server(auth="username" in options)
    if behave is not None:
        behave(server.handler)
    options = {"host": HOST, "port": server.port, "timeout": 5, **options, **extra}
    if options["port"] == "closed":
        options["port"] = free_port()
    return build(StockBackend, **options), build(EmailBackend, **options)


async def _stock_send(backend: StockBackend, messages) -> int:
    try:
        return await asyncio.to_thread(backend.send_messages, messages)
    finally:
        # After a failed open() the stock backend keeps its half-open
        # connection until close(); close it so no socket is left behind.
        await asyncio.to_thread(backend.close)


ARGS = ("Hi", "Body", "from@example.com", ["to@example.com"])


def _message() -> mail.EmailMessage:
    return mail.EmailMessage(*ARGS)


@pytest.mark.parametrize(
    ("behave", "options", "expected"),
    [case[1:] for case in FAILURES],
    ids=[case[0] for case in FAILURES],
)
async def test_failures_raise_what_stock_raises(
    start_smtp_server, behave, options, expected
):
    stock, ours = _backends(start_smtp_server, behave, options)
    with pytest.raises(expected) as stock_error:
        await _stock_send(stock, [_message()])
    with pytest.raises(expected) as our_error:
        await asend_messages(ours, [_message()])
    if type(stock_error.value) is smtplib.SMTPServerDisconnected and options.get(
        "timeout"
    ):
        # A timeout: stock's class, and also a TimeoutError.
        assert type(our_error.value) is SMTPTimeoutError
        assert isinstance(our_error.value, TimeoutError)
    else:
        assert type(our_error.value) is type(stock_error.value)
    if isinstance(
        stock_error.value, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused
    ):
        assert our_error.value.args == stock_error.value.args
    assert ours.connection is None


@pytest.mark.parametrize(
    ("behave", "options"),
    [case[1:3] for case in FAILURES],
    ids=[case[0] for case in FAILURES],
)
async def test_fail_silently_returns_0_like_stock(start_smtp_server, behave, options):
    stock, ours = _backends(start_smtp_server, behave, options, fail_silently=True)
    assert await _stock_send(stock, [_message()]) == 0
    assert await asend_messages(ours, [_message()]) == 0
    assert ours.connection is None


def test_failure_from_plain_sync_code_raises_what_stock_raises(smtp_server):
    smtp_server.handler.refuse_recipients = {"to@example.com"}
    options = {"host": HOST, "port": smtp_server.port}
    with pytest.raises(smtplib.SMTPRecipientsRefused) as stock_error:
        build(StockBackend, **options).send_messages([_message()])
    with pytest.raises(smtplib.SMTPRecipientsRefused) as our_error:
        build(EmailBackend, **options).send_messages([_message()])
    assert our_error.value.args == stock_error.value.args


async def test_partly_refused_recipients_still_send(mail_settings, smtp_server):
    smtp_server.handler.refuse_recipients = {"bad@example.com"}
    sent = await asend_mail(
        "Hi", "Body", "from@example.com", ["good@example.com", "bad@example.com"]
    )
    assert sent == 1
    assert smtp_server.received[0].rcpt_tos == ["good@example.com"]


async def test_fail_silently_as_the_running_django_takes_it(settings, smtp_server):
    smtp_server.handler.reject_data = True
    # The recommended way: an option of the mailer on Django 6.1, the
    # argument on 5.2.
    options = {"fail_silently": True} if MAILERS else {}
    use_backend(settings, ONELOOP_SMTP, host=HOST, port=smtp_server.port, **options)
    kwargs = {} if MAILERS else {"fail_silently": True}
    assert await asend_mail(*ARGS, **kwargs) == 0
    assert await asend(_message(), **kwargs) == 0
    # The argument still works on Django 6.1, deprecated.
    use_backend(settings, ONELOOP_SMTP, host=HOST, port=smtp_server.port)
    with deprecated():
        assert await asend(_message(), fail_silently=True) == 0
    with pytest.raises(smtplib.SMTPDataError):
        await asend(_message())


async def test_cancelling_a_send_closes_its_connection(mail_settings, smtp_server):
    loop = asyncio.get_running_loop()
    data_started = asyncio.Event()
    smtp_server.handler.on_data = lambda: loop.call_soon_threadsafe(data_started.set)
    smtp_server.handler.data_delay = 5
    backend = default_backend()
    task = asyncio.create_task(asend_messages(backend, [_message()]))
    await asyncio.wait_for(data_started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.connection is None
    # Dropped mid-DATA, without a QUIT the server could take for the end.
    assert smtp_server.handler.commands == [("MAIL", 0)]
    assert smtp_server.received == []
    # The backend is usable again afterwards.
    smtp_server.handler.data_delay = 0
    assert await asend_messages(backend, [_message()]) == 1


# -- the sync API, everywhere -----------------------------------------------


def test_send_mail_from_plain_sync_code(mail_settings, smtp_server):
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    assert mail.send_mail("Sync", "Body", "from@example.com", ["to@example.com"]) == 1
    assert rich_message(3).send() == 1
    assert smtp_server.received[0].parsed()["Subject"] == "Sync"
    assert_rich_message_received(smtp_server.received[1], 3)


async def test_send_mail_in_a_bridge_runs_on_the_loop_thread(
    mail_settings, smtp_server, new_threads
):
    DNS_NAME.get_fqdn()  # Django's one-time DNS lookup, done up front
    loop_thread = threading.get_ident()

    def view():
        sent = mail.send_mail("Bridged", "Body", "from@example.com", ["to@example.com"])
        return sent, threading.get_ident(), new_threads()

    sent, ident, started_during = await run_sync(view)
    assert sent == 1
    assert ident == loop_thread
    assert not started_during, "a thread was started while sending"
    assert not new_threads(), "a thread was started"
    assert smtp_server.received[0].parsed()["Subject"] == "Bridged"


async def test_amail_admins_sends_on_the_loop_thread(
    mail_settings, smtp_server, settings, new_threads
):
    settings.ADMINS = staff("admin@example.com")
    DNS_NAME.get_fqdn()
    await amail_admins("Broke", "trace")
    assert not new_threads(), "a thread was started"
    assert smtp_server.received[0].rcpt_tos == ["admin@example.com"]


async def test_sync_sends_in_bridges_are_concurrent(mail_settings, smtp_server):
    smtp_server.handler.data_delay = 0.2
    DNS_NAME.get_fqdn()

    def view(n):
        return mail.send_mail(f"S{n}", "Body", "from@example.com", ["to@example.com"])

    start = time.perf_counter()
    results = await asyncio.gather(*(run_sync(view, n) for n in range(10)))
    assert results == [1] * 10
    assert time.perf_counter() - start < 1.0
    assert len(smtp_server.received) == 10


async def test_send_mail_from_async_code_outside_a_bridge_still_sends(
    mail_settings, smtp_server
):
    # As with the stock backend, the caller waits (the loop is blocked).
    assert mail.send_mail("Direct", "Body", "from@example.com", ["to@example.com"]) == 1
    assert smtp_server.received[0].parsed()["Subject"] == "Direct"


def test_plain_sync_code_talks_smtplib(mail_settings, smtp_server):
    # Outside a bridge the backend is the stock one, connection included.
    with default_backend() as connection:
        assert type(connection.connection) is smtplib.SMTP
        assert connection.send_messages([_message()]) == 1
    assert len(smtp_server.received) == 1


async def test_a_bridge_talks_aiosmtplib(mail_settings, smtp_server):
    def view():
        with default_backend() as connection:
            sent = connection.send_messages([_message()])
            return sent, connection.connection

    sent, connection = await run_sync(view)
    assert sent == 1
    assert not isinstance(connection, smtplib.SMTP)
    assert type(connection).__module__ == "oneloop.mail.backends.smtp"


async def test_a_bridge_connection_used_outside_a_bridge_is_replaced(
    mail_settings, smtp_server
):
    backend = default_backend()
    assert await run_sync(backend.open) is True
    # Outside a bridge nothing can await it: Django's open() sees no usable
    # connection and makes an smtplib one (blocking, as stock does here).
    assert backend.send_messages([_message()]) == 1
    assert backend.connection is None
    assert len(smtp_server.received) == 1


async def test_tasks_sharing_one_backend_take_turns(mail_settings, smtp_server):
    # As threads do on the stock backend's lock: each batch opens, sends and
    # closes its own connection, none closes another's mid-send.
    smtp_server.handler.data_delay = 0.05
    backend = default_backend()
    sends = (run_sync(backend.send_messages, [_message()]) for _ in range(5))
    assert await asyncio.gather(*sends) == [1] * 5
    assert len(smtp_server.received) == 5
    # One session after the other: each quits before the next one sends.
    commands = smtp_server.handler.commands
    sessions = [session for command, session in commands if command == "MAIL"]
    assert len(set(sessions)) == 5
    assert commands == [(c, s) for s in sessions for c in ("MAIL", "QUIT")]
    assert backend.connection is None


# -- one connection per batch -----------------------------------------------

DATATUPLE = [
    (f"Mass {n}", f"Body {n}", "from@example.com", [f"to{n}@example.com"])
    for n in range(5)
]


async def test_asend_mass_mail_uses_one_connection(mail_settings, smtp_server):
    assert await asend_mass_mail(DATATUPLE) == 5
    assert len(smtp_server.received) == 5
    assert len(smtp_server.handler.sessions) == 1


def test_send_mass_mail_uses_one_connection_in_sync_code(mail_settings, smtp_server):
    assert mail.send_mass_mail(DATATUPLE) == 5
    assert len(smtp_server.received) == 5
    assert len(smtp_server.handler.sessions) == 1


async def test_send_mass_mail_uses_one_connection_in_a_bridge(
    mail_settings, smtp_server
):
    assert await run_sync(mail.send_mass_mail, DATATUPLE) == 5
    assert len(smtp_server.handler.sessions) == 1


async def test_an_opened_backend_keeps_its_connection(mail_settings, smtp_server):
    backend = default_backend()
    assert await run_sync(backend.open) is True
    assert await run_sync(backend.open) is False
    for n in range(3):
        message = mail.EmailMessage(f"M{n}", "B", "f@example.com", ["t@example.com"])
        assert await asend_messages(backend, [message]) == 1
    # Handing it to asend_mail (deprecated on Django 6.1) uses it too.
    for n in range(3, 5):
        with deprecated():
            sent = await asend_mail(
                f"M{n}", "B", "f@example.com", ["t@example.com"], connection=backend
            )
        assert sent == 1
    await run_sync(backend.close)
    assert backend.connection is None
    assert len(smtp_server.handler.sessions) == 1
    assert len(smtp_server.received) == 5


def test_with_block_keeps_one_connection_in_sync_code(mail_settings, smtp_server):
    with default_backend() as connection:
        for _ in range(3):
            connection.send_messages([_message()])
        # Handing it to send_mail (deprecated on Django 6.1) uses it too.
        with deprecated():
            mail.send_mail(*ARGS, connection=connection)
    assert connection.connection is None
    assert len(smtp_server.handler.sessions) == 1
    assert len(smtp_server.received) == 4


# -- TLS and authentication -------------------------------------------------


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
async def test_tls_with_login(start_smtp_server, certificate, monkeypatch, mode):
    server = start_smtp_server(mode=mode, auth=True, cert=certificate)
    # Trust the test's self-signed certificate the way a deployment would:
    # the stock default SSL context reads SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    options = {
        "host": HOST,
        "port": server.port,
        "username": USERNAME,
        "password": PASSWORD,
        "use_tls": mode == "starttls",
        "use_ssl": mode == "ssl",
        "timeout": 5,
    }
    assert await asend_messages(build(EmailBackend, **options), [rich_message(1)]) == 1
    stock = build(StockBackend, **options)
    assert await asyncio.to_thread(stock.send_messages, [rich_message(2)]) == 1
    ours, stock = server.received
    assert ours.tls and ours.authenticated
    assert stock.tls and stock.authenticated
    assert_rich_message_received(ours, 1)


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
async def test_untrusted_certificate_raises_what_stock_raises(
    start_smtp_server, certificate, mode
):
    server = start_smtp_server(mode=mode, cert=certificate)
    options = {
        "host": HOST,
        "port": server.port,
        "use_tls": mode == "starttls",
        "use_ssl": mode == "ssl",
        "timeout": 5,
    }
    with pytest.raises(ssl.SSLCertVerificationError):
        await _stock_send(build(StockBackend, **options), [_message()])
    with pytest.raises(ssl.SSLCertVerificationError):
        await asend_messages(build(EmailBackend, **options), [_message()])
    quiet = build(EmailBackend, fail_silently=True, **options)
    assert await asend_messages(quiet, [_message()]) == 0
    assert server.received == []


def test_tls_and_ssl_are_mutually_exclusive_as_in_stock():
    options = {"host": HOST, "use_tls": True, "use_ssl": True}
    # ValueError on Django 5.2, InvalidMailer (ImproperlyConfigured) on 6.1.
    with pytest.raises((ValueError, ImproperlyConfigured)) as stock_error:
        build(StockBackend, **options)
    with pytest.raises(type(stock_error.value)) as our_error:
        build(EmailBackend, **options)
    assert str(our_error.value) == str(stock_error.value)


async def test_tls_context_is_built_once_and_shared(
    start_smtp_server, certificate, monkeypatch
):
    server = start_smtp_server(mode="starttls", cert=certificate)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    options = {"host": HOST, "port": server.port, "use_tls": True, "timeout": 5}
    first, second = build(EmailBackend, **options), build(EmailBackend, **options)
    assert await asend_messages(first, [_message()]) == 1
    assert await asend_messages(second, [_message()]) == 1
    assert first.ssl_context is second.ssl_context
    # Different inputs, different context.
    monkeypatch.setenv("SSL_CERT_DIR", str(certificate[0].parent))
    third = build(EmailBackend, **options)
    assert await asend_messages(third, [_message()]) == 1
    assert third.ssl_context is not first.ssl_context
    assert [r.tls for r in server.received] == [True, True, True]


def test_starttls_from_plain_sync_code(start_smtp_server, certificate, monkeypatch):
    server = start_smtp_server(mode="starttls", auth=True, cert=certificate)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    connection = build(
        EmailBackend,
        host=HOST,
        port=server.port,
        use_tls=True,
        username=USERNAME,
        password=PASSWORD,
        timeout=5,
    )
    assert connection.send_messages([rich_message(4)]) == 1
    (received,) = server.received
    assert received.tls and received.authenticated
    assert_rich_message_received(received, 4)
