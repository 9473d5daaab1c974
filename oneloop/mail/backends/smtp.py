"""SMTP email backend: ``oneloop.mail.backends.smtp.EmailBackend``.

Django's own SMTP backend, unchanged: its ``open``, ``close``,
``send_messages`` and ``_send`` run as they are, with its configuration
(``MAILERS`` ``OPTIONS`` on Django 6.1, the ``EMAIL_*`` settings before),
its message bytes, envelope and ``fail_silently`` handling. Only the
connection differs, and only inside a bridge greenlet (a sync view under
oneloop's ASGI handler, code run by ``run_sync``): there
``connection_class`` is a facade with the part of ``smtplib.SMTP``'s
interface Django's backend uses, each call an ``await_`` of aiosmtplib, so
waiting for the server suspends the greenlet and the loop serves other
tasks. Its failures are raised as the ``smtplib`` exceptions the stock
backend would raise (see ``oneloop.mail._errors``).

Everywhere else (WSGI, management commands, Celery, or an ``async def``
calling ``send_mail`` directly, outside a bridge) the connection is
``smtplib.SMTP`` / ``SMTP_SSL`` as in the stock backend, at its speed.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends import smtp as stock_smtp
from django.core.mail.utils import DNS_NAME
from django.utils.functional import cached_property

from oneloop.bridge import await_, current_scope, in_bridge

try:
    import aiosmtplib
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImproperlyConfigured(
        "oneloop.mail.backends.smtp.EmailBackend needs aiosmtplib, which is not "
        "installed. Install it with: pip install 'django-oneloop[smtp]'"
    ) from exc

from oneloop.mail._errors import SMTPTimeoutError, reply_bytes, to_smtplib

__all__ = ["EmailBackend", "SMTPTimeoutError"]

T = TypeVar("T")


class EmailBackend(stock_smtp.EmailBackend):
    """Django's SMTP backend whose connection, inside a bridge, is an
    aiosmtplib client on the running loop.

    Configured and used exactly as ``django.core.mail.backends.smtp.
    EmailBackend``. Inside a bridge it also keeps two things off the loop
    thread that the stock backend does inline: the first DNS lookup of the
    local host name (for ``EHLO``) and building the default SSL context run
    in a worker thread, and that context is shared by the backends built
    from the same inputs. Tasks sharing one backend take turns on its send
    lock, as threads do on the stock backend's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The stock backend serializes send_messages() with a threading.RLock;
        # the greenlets of one loop thread would all get through it.
        self._lock = _SendLock()
        if in_bridge() and not hasattr(DNS_NAME, "_fqdn"):
            # open() reads DNS_NAME.get_fqdn(), which may query DNS once.
            await_(asyncio.to_thread(DNS_NAME.get_fqdn))

    @property
    def connection_class(self) -> type[smtplib.SMTP] | type[_SMTP]:
        """In a bridge, the aiosmtplib facade; elsewhere what stock uses."""
        if in_bridge():
            return _SMTP_SSL if self.use_ssl else _SMTP
        return super().connection_class

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """The stock backend's SSL context. In a bridge it is built in a
        worker thread (loading the CA certificates takes ~20 ms) and shared
        by every backend with the same inputs; elsewhere as stock builds it."""
        build = stock_smtp.EmailBackend.ssl_context.func
        if not in_bridge():
            return build(self)
        key = (
            *(_file_key(path) for path in (self.ssl_certfile, self.ssl_keyfile)),
            os.environ.get("SSL_CERT_FILE"),
            os.environ.get("SSL_CERT_DIR"),
        )
        context = _ssl_contexts.get(key)
        if context is None:
            context = _ssl_contexts[key] = await_(asyncio.to_thread(build, self))
        return context


# Default SSL contexts of the backends, by what they were built from.
_ssl_contexts: dict[tuple, ssl.SSLContext] = {}


def _file_key(path: str | None) -> tuple[str, int | None] | None:
    if not path:
        return None
    try:
        return path, os.stat(path).st_mtime_ns
    except OSError:
        return path, None  # load_cert_chain reports it


class _SMTP:
    """``smtplib.SMTP`` as Django's SMTP backend uses it, on aiosmtplib.

    The constructor connects, as smtplib's does when given a host. Each
    method is an ``await_`` of the aiosmtplib call. A failure is raised as
    the ``smtplib`` exception the stock backend would see; one that leaves
    the conversation in an unknown state (a cancellation, a timeout, a lost
    or half-opened connection) drops the socket without ``QUIT``, so nothing
    half-sent goes on.
    """

    _implicit_tls = False

    def __init__(
        self,
        host: str,
        port: int,
        local_hostname: str | None = None,
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self._client = aiosmtplib.SMTP(
            hostname=host,
            port=int(port),
            local_hostname=local_hostname,
            source_address=source_address,
            timeout=timeout,
            use_tls=self._implicit_tls,
            start_tls=False,  # STARTTLS only when Django asks for it
            tls_context=context,
        )
        self._loop = asyncio.get_running_loop()
        self._opening = True
        self._call(self._client.connect())

    def __bool__(self) -> bool:
        # Django's open() reuses a connection that is truthy. One opened on
        # another loop, or used outside a bridge, can't be used here: it is
        # dropped, and Django opens a new one.
        if in_bridge() and self._loop is asyncio.get_running_loop():
            return True
        self.close()
        return False

    def starttls(self, context: ssl.SSLContext | None = None) -> None:
        self._require("starttls", "STARTTLS extension not supported by server.")
        self._call(self._client.starttls(tls_context=context))

    def login(self, user: str, password: str) -> None:
        self._require("auth", "SMTP AUTH extension not supported by server.")
        self._call(self._client.login(user, password))
        self._opening = False

    def sendmail(
        self, from_addr: str, to_addrs: list[str], msg: bytes
    ) -> dict[str, tuple[int, bytes]]:
        self._opening = False
        refused, _ = self._call(self._client.sendmail(from_addr, to_addrs, msg))
        return {rcpt: (r.code, reply_bytes(r.message)) for rcpt, r in refused.items()}

    def quit(self) -> None:
        try:
            if self._client.is_connected:  # else already dropped: just close
                self._call(self._client.quit())
        finally:
            self.close()

    def close(self) -> None:
        """Drop the socket without a QUIT, from wherever it is called."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        try:
            if self._loop is not running and self._loop.is_running():
                self._loop.call_soon_threadsafe(self._client.close)
            else:
                self._client.close()
        except RuntimeError:
            pass  # its loop is closed: the transport went with it

    def _require(self, extension: str, missing: str) -> None:
        # As smtplib: say EHLO first, then refuse what the server lacks.
        if self._client.is_ehlo_or_helo_needed:
            self._call(self._client.ehlo())
        if not self._client.supports_extension(extension):
            self._client.close()
            raise smtplib.SMTPNotSupportedError(missing)

    def _call(self, call: Coroutine[Any, Any, T]) -> T:
        if not self:
            call.close()
            raise smtplib.SMTPServerDisconnected(
                "This SMTP connection was opened on another event loop and "
                "can't be used here; open a new one (Django's open() does)."
            )
        try:
            return await_(call)
        except aiosmtplib.SMTPException as exc:
            if self._opening or not isinstance(
                exc, aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused
            ):
                self._client.close()
            raise to_smtplib(exc) from exc
        except BaseException:
            self._client.close()
            raise


class _SMTP_SSL(_SMTP):
    """``smtplib.SMTP_SSL``: TLS from the first byte."""

    _implicit_tls = True


class _SendLock:
    """The lock Django's backend holds around ``send_messages``: a
    ``threading.RLock`` for threads, and in a bridge an ``asyncio.Lock`` of
    the running loop, re-entrant per task, so that tasks sharing one backend
    take turns as threads do."""

    def __init__(self) -> None:
        self._thread_lock = threading.RLock()
        self._loop_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._owner: object = None
        self._depth = 0

    def __enter__(self) -> None:
        scope = current_scope()
        if scope is None:
            self._thread_lock.acquire()
        elif self._owner is scope:
            self._depth += 1
        else:
            await_(self._for_this_loop().acquire())
            self._owner, self._depth = scope, 1

    def __exit__(self, *exc_info: object) -> None:
        if current_scope() is None:
            self._thread_lock.release()
            return
        self._depth -= 1
        if not self._depth:
            self._owner = None
            self._for_this_loop().release()

    def _for_this_loop(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop_lock is None or self._loop_lock[0] is not loop:
            self._loop_lock = (loop, asyncio.Lock())
        return self._loop_lock[1]
