"""Fixtures for the mail tests: a real aiosmtpd server on 127.0.0.1 per test,
and a self-signed certificate for the TLS tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.mail.config import ONELOOP_SMTP, use_backend
from tests.mail.server import HOST, Handler, SMTPServer, make_certificate
from tests.servers import need_program


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A plain SMTP server; tweak ``smtp_server.handler`` to make it misbehave."""
    with SMTPServer() as server:
        yield server


@pytest.fixture
def start_smtp_server() -> Iterator[Callable[..., SMTPServer]]:
    """Start more servers, with other modes (``starttls``, ``ssl``, ``auth``)."""
    running: list[SMTPServer] = []

    def start(handler: Handler | None = None, **kwargs: object) -> SMTPServer:
        server = SMTPServer(handler, **kwargs).__enter__()
        running.append(server)
        return server

    yield start
    for server in reversed(running):
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(certificate, key) of a self-signed certificate for IP 127.0.0.1."""
    openssl = need_program("openssl", "openssl")  # skips locally, fails in CI
    return make_certificate(openssl, tmp_path_factory.mktemp("tls"))


@pytest.fixture
def mail_settings(settings, smtp_server: SMTPServer):
    """Django settings making oneloop's SMTP backend, pointed at
    ``smtp_server``, the default (mailer on Django 6.1, EMAIL_BACKEND on 5.2)."""
    use_backend(settings, ONELOOP_SMTP, host=HOST, port=smtp_server.port, timeout=10)
    return settings
