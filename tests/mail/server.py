"""A real SMTP server for the mail tests and the mail benchmark: aiosmtpd on
127.0.0.1, on its own thread and loop, with a handler that records every
message and can misbehave on request (delay or refuse DATA, refuse a sender or
recipients, drop the connection, hang)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers import free_port

HOST = "127.0.0.1"


@dataclass
class Received:
    """One message as the server got it."""

    session: int  # one number per SMTP connection
    mail_from: str
    rcpt_tos: list[str]
    mail_options: list[str]
    content: bytes  # the DATA bytes, dot-unstuffed
    tls: bool
    authenticated: bool

    def parsed(self) -> email.message.EmailMessage:
        # SMTP lines end in CRLF; parse with the newlines Python strings use.
        content = self.content.replace(b"\r\n", b"\n")
        return email.message_from_bytes(content, policy=email.policy.default)


@dataclass
class Handler:
    """aiosmtpd handler. Set the attributes to choose how the server behaves."""

    data_delay: float = 0.0  # seconds to wait before accepting DATA
    refuse_recipients: set[str] = field(default_factory=set)
    refuse_senders: set[str] = field(default_factory=set)
    reject_data: bool = False  # answer DATA with 554
    drop_on_data: bool = False  # close the connection instead of answering
    hang_on_data: bool = False  # never answer DATA
    on_data: Callable[[], None] | None = None  # called (server thread) as DATA starts
    received: list[Received] = field(default_factory=list)
    sessions: set[int] = field(default_factory=set)
    # (command, session) of every MAIL and QUIT, in the order they came.
    commands: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._session_ids: dict[int, int] = {}
        self._guard = threading.Lock()

    def _session_number(self, session: Any) -> int:
        with self._guard:
            return self._session_ids.setdefault(id(session), len(self._session_ids))

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        number = self._session_number(session)
        self.sessions.add(number)
        self.commands.append(("MAIL", number))
        if address in self.refuse_senders:
            return "553 5.7.1 Sender not allowed"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_recipients:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        self.commands.append(("QUIT", self._session_number(session)))
        return "221 Bye"

    async def handle_DATA(self, server, session, envelope):
        if self.on_data is not None:
            self.on_data()
        if self.hang_on_data:
            await asyncio.sleep(3600)
        if self.drop_on_data:
            server.transport.close()
            return "421 4.3.0 Closing"
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.reject_data:
            return "554 5.6.0 Message content rejected"
        self.received.append(
            Received(
                session=self._session_number(session),
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                mail_options=list(envelope.mail_options),
                content=envelope.content,
                tls=server.transport.get_extra_info("sslcontext") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 2.0.0 Message accepted"


USERNAME = "mailer"
PASSWORD = "s3cret"


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USERNAME.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


class SMTPServer:
    """A running aiosmtpd server. ``mode``: ``"plain"``, ``"starttls"`` (offers
    STARTTLS) or ``"ssl"`` (TLS from the first byte); ``auth`` offers AUTH
    (accepting ``USERNAME``/``PASSWORD``; over STARTTLS only after it)."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        mode: str = "plain",
        auth: bool = False,
        cert: tuple[Path, Path] | None = None,
    ) -> None:
        self.handler = handler or Handler()
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if mode != "plain":
            assert cert is not None, "TLS needs a certificate"
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            if mode == "starttls":
                kwargs.update(tls_context=context, require_starttls=False)
            else:
                kwargs.update(ssl_context=context)
        if auth:
            kwargs.update(
                authenticator=authenticator,
                auth_require_tls=mode == "starttls",
            )
        self.controller = Controller(
            self.handler, hostname=HOST, port=self.port, **kwargs
        )

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def make_certificate(openssl: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (subjectAltName IP), made with
    the ``openssl`` command line tool. Returns (certificate, key) paths."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
