"""SMTP email backend on aiosmtplib: ``oneloop.mail.backends.smtp.EmailBackend``.

A drop-in for ``django.core.mail.backends.smtp.EmailBackend``: the same
configuration, the same constructor arguments, the same message bytes and
envelope, and the same ``smtplib`` exceptions. On Django 6.1 it is a
``MAILERS`` ``BACKEND`` and takes the stock backend's ``OPTIONS`` (``host``,
``port``, ``username``, ``password``, ``use_tls`` for STARTTLS, ``use_ssl``,
``timeout``, ``ssl_keyfile``, ``ssl_certfile``, ``fail_silently``); on Django
5.2 it is the ``EMAIL_BACKEND`` and reads the ``EMAIL_*`` settings. The
stock ``__init__`` does the reading either way. What differs is the
transport: the SMTP conversation is an aiosmtplib client on the event loop,
so waiting for the server never holds a thread.

There is one implementation, the async one (``aopen``, ``aclose``,
``asend_messages``); the sync methods Django calls (``open``, ``close``,
``send_messages``) run it through ``oneloop.bridge.await_``:

* inside a bridge greenlet (a sync view under oneloop's ASGI handler, code run
  by ``run_sync``) the greenlet waits on the loop and other tasks run meanwhile;
* with no loop running (management commands, WSGI, Celery) it runs to the end
  on the thread's private loop;
* on a thread whose loop is running, outside a bridge (``send_mail`` called
  straight from an ``async def`` view), it behaves like the stock backend
  does there: the caller waits until the mail is sent. The conversation then
  runs on one helper thread kept for that case; prefer ``asend_mail`` there.

An open connection belongs to the loop that opened it: used from another loop
it is closed and a new one is opened.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import email.policy
import os
import ssl
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends import smtp as stock_smtp
from django.core.mail.message import EmailMessage
from django.core.mail.utils import DNS_NAME

from oneloop.bridge import await_, in_bridge

try:
    import aiosmtplib
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImproperlyConfigured(
        "oneloop.mail.backends.smtp.EmailBackend needs aiosmtplib, which is not "
        "installed. Install it with: pip install 'django-oneloop[smtp]'"
    ) from exc

import smtplib

from oneloop.mail._errors import SMTPTimeoutError, to_smtplib

__all__ = ["EmailBackend", "SMTPTimeoutError"]

T = TypeVar("T")

# Django 6 builds the SMTP envelope with EmailBackend.prep_address.
_STOCK_PREP_ADDRESS = hasattr(stock_smtp.EmailBackend, "prep_address")


class EmailBackend(stock_smtp.EmailBackend):
    """Django's SMTP backend with an aiosmtplib connection underneath.

    ``send_messages`` of many messages uses one SMTP connection (opened and
    closed around the batch unless the backend was opened explicitly, as with
    ``with mailers.default as connection:``, or ``get_connection()`` before
    Django 6.1). ``await asend_messages(...)`` is the native async entry point.
    Extra keyword arguments (Django 6.1's ``alias``) go to the stock backend.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool | None = None,
        fail_silently: bool = False,
        use_ssl: bool | None = None,
        timeout: float | None = None,
        ssl_keyfile: str | None = None,
        ssl_certfile: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            host=host,
            port=port,
            username=username,
            password=password,
            use_tls=use_tls,
            fail_silently=fail_silently,
            use_ssl=use_ssl,
            timeout=timeout,
            ssl_keyfile=ssl_keyfile,
            ssl_certfile=ssl_certfile,
            **kwargs,
        )
        self.connection: aiosmtplib.SMTP | None = None
        self._partial_connection: aiosmtplib.SMTP | None = None
        # Serializes batches of tasks sharing this backend, as the stock
        # backend's RLock does for threads (greenlets of one thread would all
        # get through an RLock). One lock per loop: locks belong to a loop.
        self._loop_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @property
    def connection_class(self) -> type[aiosmtplib.SMTP]:
        return aiosmtplib.SMTP

    # -- async API: the implementation ------------------------------------

    async def aopen(self) -> bool | None:
        """Make sure a connection to the server is open.

        Return ``True`` if a new connection was made, ``False`` if one was
        already open, ``None`` if connecting failed and ``fail_silently`` is
        set. Raises what the stock backend raises (``OSError`` subclasses).
        """
        loop = asyncio.get_running_loop()
        if self.connection is not None:
            if self.connection.loop is loop:
                return False
            _close_now(self.connection)  # opened on another loop: unusable here
            self.connection = None
        if self._partial_connection is not None:
            _close_now(self._partial_connection)
            self._partial_connection = None

        client = self._client(await _local_hostname(), await self._atls_context())
        self._partial_connection = client
        try:
            await client.connect()
            # STARTTLS and SSL are mutually exclusive (checked in __init__).
            if self.use_tls and not self.use_ssl:
                await self._astarttls(client)
            if self.username and self.password:
                await self._alogin(client)
        except aiosmtplib.SMTPException as exc:
            self._drop_partial(client)
            if self.fail_silently:
                return None
            raise to_smtplib(exc) from exc
        except OSError:
            self._drop_partial(client)
            if self.fail_silently:
                return None
            raise
        except BaseException:
            self._drop_partial(client)
            raise
        self.connection = client
        self._partial_connection = None
        return True

    async def aclose(self) -> None:
        """Close the connection to the server (QUIT, then close the socket)."""
        for attr in ("_partial_connection", "connection"):
            client = getattr(self, attr)
            if client is None:
                continue
            setattr(self, attr, None)
            await self._aclose_connection(client)

    async def asend_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Send ``email_messages`` over one connection; return how many were
        sent. The async twin of ``send_messages``, with the same results and
        exceptions."""
        if not email_messages:
            return 0
        async with self._lock_for_loop():
            new_conn_created = await self.aopen()
            if not self.connection or new_conn_created is None:
                return 0  # open() failed silently: sending would be pointless.
            num_sent = 0
            try:
                for message in email_messages:
                    if await self._asend(message):
                        num_sent += 1
            except asyncio.CancelledError:
                if new_conn_created:
                    # The conversation may be cut mid-command: no QUIT.
                    self._abort()
                raise
            except BaseException:
                if new_conn_created:
                    await self.aclose()
                raise
            if new_conn_created:
                await self.aclose()
        return num_sent

    # -- sync API: the same code, through the bridge ------------------------

    def open(self) -> bool | None:
        """Sync ``aopen``: see the module docstring for where it runs."""
        return self._run(self.aopen)

    def close(self) -> None:
        """Sync ``aclose``."""
        if self.connection is None and self._partial_connection is None:
            return
        self._run(self.aclose)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Sync ``asend_messages``: what Django's ``send_mail`` and
        ``EmailMessage.send`` call."""
        if not email_messages:
            return 0
        return self._run(self.asend_messages, email_messages)

    def _run(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        if in_bridge():
            return await_(fn(*args))
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # Plain sync code: this thread's private loop. The RLock keeps
            # threads that share this backend apart, as in the stock backend.
            # Blocking set-up is fine here, with no loop: do it inline.
            DNS_NAME.get_fqdn()
            if self._uses_tls() and self._cached_tls_context() is None:
                self._build_tls_context()
            with self._lock:
                return await_(fn(*args))
        return _call_outside_loop(fn, *args)

    # -- helpers -------------------------------------------------------------

    def _client(
        self, local_hostname: str, tls_context: ssl.SSLContext | None
    ) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=int(self.port),
            local_hostname=local_hostname,
            timeout=self.timeout,
            use_tls=bool(self.use_ssl),
            start_tls=False,  # STARTTLS only when asked for, as stock does
            tls_context=tls_context,
        )

    def _uses_tls(self) -> bool:
        return bool(self.use_ssl or self.use_tls)

    async def _atls_context(self) -> ssl.SSLContext | None:
        """The stock backend's ``ssl_context``, without stalling the loop:
        building one loads the CA certificates (~20 ms), so it is built in a
        thread and shared by every backend with the same inputs."""
        if not self._uses_tls():
            return None
        context = self._cached_tls_context()
        if context is None:
            context = await asyncio.to_thread(self._build_tls_context)
        return context

    def _cached_tls_context(self) -> ssl.SSLContext | None:
        if "ssl_context" in self.__dict__:
            return self.__dict__["ssl_context"]
        key = self._tls_context_key()
        context = _tls_contexts.get(key) if key is not None else None
        if context is not None:
            self.__dict__["ssl_context"] = context
        return context

    def _build_tls_context(self) -> ssl.SSLContext:
        context = self.ssl_context  # Django's cached_property, or a subclass's
        key = self._tls_context_key()
        if key is not None:
            _tls_contexts[key] = context
        return context

    def _tls_context_key(self) -> tuple | None:
        """What the stock ``ssl_context`` depends on, or ``None`` when a
        subclass builds its own (then it is not shared)."""
        if type(self).ssl_context is not stock_smtp.EmailBackend.ssl_context:
            return None
        files = []
        for path in (self.ssl_certfile, self.ssl_keyfile):
            try:
                files.append((path, os.stat(path).st_mtime_ns) if path else None)
            except OSError:
                files.append((path, None))  # let load_cert_chain report it
        return (
            *files,
            os.environ.get("SSL_CERT_FILE"),
            os.environ.get("SSL_CERT_DIR"),
        )

    async def _astarttls(self, client: aiosmtplib.SMTP) -> None:
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        if not client.supports_extension("starttls"):
            raise smtplib.SMTPNotSupportedError(
                "STARTTLS extension not supported by server."
            )
        await client.starttls()

    async def _alogin(self, client: aiosmtplib.SMTP) -> None:
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        if not client.supports_extension("auth"):
            raise smtplib.SMTPNotSupportedError(
                "SMTP AUTH extension not supported by server."
            )
        await client.login(self.username, self.password)

    async def _asend(self, email_message: EmailMessage) -> bool:
        """Send one message on the open connection, exactly as the stock
        backend's ``_send`` builds it."""
        if not email_message.recipients():
            return False
        from_email, recipients, content = self._envelope(email_message)
        assert self.connection is not None
        try:
            await self.connection.sendmail(from_email, recipients, content)
        except aiosmtplib.SMTPException as exc:
            if not self.fail_silently:
                raise to_smtplib(exc) from exc
            return False
        return True

    def _envelope(self, email_message: EmailMessage) -> tuple[str, list[str], bytes]:
        """Sender, recipients and bytes as the stock ``_send`` of the installed
        Django makes them: its ``prep_address`` and the SMTP policy where it
        has them (Django 6), else ``sanitize_address`` (deprecated in 6)
        with the message's encoding and CRLF line ends."""
        if _STOCK_PREP_ADDRESS:
            return (
                self.prep_address(email_message.from_email),
                [self.prep_address(addr) for addr in email_message.recipients()],
                email_message.message(policy=email.policy.SMTP).as_bytes(),
            )
        from django.core.mail.message import sanitize_address

        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        return (
            sanitize_address(email_message.from_email, encoding),
            [sanitize_address(addr, encoding) for addr in email_message.recipients()],
            email_message.message().as_bytes(linesep="\r\n"),
        )

    async def _aclose_connection(self, client: aiosmtplib.SMTP) -> None:
        if client.loop is not asyncio.get_running_loop() or not client.is_connected:
            _close_now(client)
            return
        try:
            await client.quit()
        except (ssl.SSLError, aiosmtplib.SMTPServerDisconnected):
            # Seen when quitting a TLS connection, or after the server hung up.
            client.close()
        except aiosmtplib.SMTPException as exc:
            client.close()
            if self.fail_silently:
                return
            raise to_smtplib(exc) from exc
        except BaseException:
            client.close()
            raise

    def _drop_partial(self, client: aiosmtplib.SMTP) -> None:
        # Unlike smtplib, an aiosmtplib client left half-open would hold its
        # socket until garbage collection; close it now.
        client.close()
        if self._partial_connection is client:
            self._partial_connection = None

    def _abort(self) -> None:
        for client in (self._partial_connection, self.connection):
            if client is not None:
                _close_now(client)
        self.connection = self._partial_connection = None

    def _lock_for_loop(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        held = self._loop_lock
        if held is None or held[0] is not loop:
            held = self._loop_lock = (loop, asyncio.Lock())
        return held[1]


# Default SSL contexts, by what they were built from (see _tls_context_key).
_tls_contexts: dict[tuple, ssl.SSLContext] = {}


async def _local_hostname() -> str:
    """Django's cached FQDN (what the stock backend sends in EHLO). The first
    lookup may query DNS, so it runs in a thread instead of on the loop."""
    if not hasattr(DNS_NAME, "_fqdn"):
        await asyncio.to_thread(DNS_NAME.get_fqdn)
    return DNS_NAME.get_fqdn()


def _close_now(client: aiosmtplib.SMTP) -> None:
    """Close ``client``'s socket without a QUIT, from any loop or thread."""
    loop = client.loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    try:
        if loop is None or loop is running or not loop.is_running():
            client.close()
        else:
            loop.call_soon_threadsafe(client.close)
    except RuntimeError:
        pass  # its loop is closed: the transport went with it


_outside_loop_executor: concurrent.futures.ThreadPoolExecutor | None = None
_outside_loop_guard = threading.Lock()


def _call_outside_loop(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """Run ``fn(*args)`` to the end for sync code that was called on a running
    loop but outside a bridge, where nothing can be awaited. Like smtplib in
    the stock backend, this makes the caller wait; the SMTP conversation runs
    on one long-lived helper thread, whose private loop keeps connections
    opened there usable for later calls."""
    global _outside_loop_executor
    with _outside_loop_guard:
        if _outside_loop_executor is None:
            _outside_loop_executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="oneloop-mail"
            )
    context = contextvars.copy_context()
    future = _outside_loop_executor.submit(context.run, _run_in_helper, fn, args)
    return future.result()


def _run_in_helper(fn: Callable[..., Coroutine[Any, Any, T]], args: tuple) -> T:
    DNS_NAME.get_fqdn()
    return await_(fn(*args))
