"""COMMIT and what follows it are not cut in half by a cancellation."""

from __future__ import annotations

from typing import Any

from oneloop.bridge import shielded


class ShieldedCommit:
    """Mixin for oneloop's ``DatabaseWrapper``s.

    Stock sync Django cannot be interrupted between a COMMIT and the
    ``on_commit`` callbacks of what it committed. In a bridge a cancellation
    lands at the next await, which could be inside COMMIT: the transaction
    commits on the server while Django, seeing the error, drops its
    callbacks. So a cancellation that arrives during the COMMIT or during the
    switch back to autocommit (which runs the callbacks) is held, and raised
    at the next await after them.
    """

    def _commit(self) -> Any:
        with shielded():
            return super()._commit()  # type: ignore[misc]

    def set_autocommit(self, *args: Any, **kwargs: Any) -> Any:
        with shielded():
            return super().set_autocommit(*args, **kwargs)  # type: ignore[misc]
