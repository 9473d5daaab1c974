"""oneloop's handler, with the process held after lifespan shutdown.

When the handler has finished its lifespan shutdown (before the server hears
so), the wrapper writes ``closed`` to the file ``ONELOOP_ASGI_HELD_MARK`` and
waits for SIGUSR1. Meanwhile the process is alive, so a test can check on the
servers which of its connections are still open: after the process exits the
operating system would close them anyway.
"""

import asyncio
import os
import signal
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.asgi.project.settings")

from oneloop.asgi import get_asgi_application

handler = get_asgi_application()


def _say_held() -> None:
    Path(os.environ["ONELOOP_ASGI_HELD_MARK"]).write_text("closed")


async def application(scope, receive, send):
    if scope["type"] != "lifespan":
        await handler(scope, receive, send)
        return

    async def held_send(message):
        if message["type"] == "lifespan.shutdown.complete":
            go_on = asyncio.Event()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGUSR1, go_on.set)
            _say_held()  # a few bytes to a local file
            await go_on.wait()
        await send(message)

    await handler(scope, receive, held_send)
