"""Fixtures for the mail tests: a real aiosmtpd server on 127.0.0.1 per test,
and a self-signed certificate for the TLS tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.mail.server import Handler, SMTPServer, make_certificate


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
    if shutil.which("openssl") is None:
        pytest.skip("the TLS tests need the openssl command line tool")
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def mail_settings(settings, smtp_server: SMTPServer):
    """Django settings pointing oneloop's SMTP backend at ``smtp_server``."""
    settings.EMAIL_BACKEND = "oneloop.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_TIMEOUT = 10
    return settings
