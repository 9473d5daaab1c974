"""Loop-block watchdog: warn, with the stack, when something stalls the loop.

Everything oneloop runs shares one event loop per process. A sync view that
calls ``time.sleep()``, ``requests.get()`` or a CPU-heavy function keeps the
loop busy, and every other request waits. The watchdog finds those places:
when one piece of code keeps the loop busy longer than a threshold, it logs
one warning on the ``oneloop.watchdog`` logger with the stack of that code,
and points to ``oneloop.offload()``, which runs such calls in a thread.

How it stays nearly free when nothing blocks:

* On the loop, a *heartbeat* callback runs every ``threshold / 4`` (a
  ``loop.call_later`` timer; nothing wraps or times the other callbacks). It
  only records the time.
* A *monitor thread* wakes every ``threshold / 4`` and compares the clock
  with the last heartbeat. While the heartbeat is on time it does nothing
  else. When the heartbeat is overdue, the loop thread is stuck in some
  callback: the monitor samples the loop thread's current frame with
  ``sys._current_frames()`` while the stall is in progress, so the stack
  shows the line that blocks (the ``time.sleep`` call in a view), not the
  place where the loop resumed.
* A stall is reported only if the same callback (the same outermost frame
  above the loop's own machinery, for a bridge greenlet its worker frame)
  was seen running for most of the stall. A loop that is merely overloaded
  with many short callbacks is not one blocking call, and no single stack
  would explain it, so it is not reported.

The warning is logged once per stall, when the stall ends (with its real
duration), or while it lasts if it goes on for longer than ``max(1 s,
10 x threshold)``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import sysconfig
import threading
import time
import traceback
import weakref
from types import CodeType, FrameType

__all__ = ["LoopWatchdog", "get_watchdog", "start_watchdog", "stop_watchdog"]

logger = logging.getLogger("oneloop.watchdog")

_LIBRARY_DIRS = tuple(
    os.path.normcase(os.path.realpath(path)) + os.sep
    for path in {
        sysconfig.get_paths()[name]
        for name in ("stdlib", "platstdlib", "purelib", "platlib")
        if name in sysconfig.get_paths()
    }
)
_OWN_FILE = os.path.normcase(os.path.realpath(__file__))


def _is_library_file(filename: str) -> bool:
    path = os.path.normcase(os.path.realpath(filename))
    return path.startswith(_LIBRARY_DIRS)


class LoopWatchdog:
    """Watches one event loop from a monitor thread.

    Use ``start_watchdog(loop, threshold_ms)`` rather than creating one
    directly: it keeps a single watchdog per loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, threshold_ms: float) -> None:
        if threshold_ms <= 0:
            raise ValueError(
                f"The watchdog threshold must be a positive number of milliseconds, "
                f"not {threshold_ms!r}; pass None to the caller to turn it off."
            )
        self.threshold = threshold_ms / 1000
        self.period = self.threshold / 4
        self.max_wait = max(1.0, 10 * self.threshold)
        self.loop = loop
        self.warnings_logged = 0
        # How many times the monitor thread has woken to look at the loop:
        # once it has gone up by two, every stall before is reported or
        # dismissed (what a test waits for instead of sleeping).
        self.checks = 0
        self._loop_thread_id: int | None = None
        self._last_beat = time.monotonic()
        self._machinery: frozenset[CodeType] = frozenset()
        self._timer: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- on the loop --------------------------------------------------------

    def start(self) -> None:
        """Start the heartbeat and the monitor thread. Call it on the loop."""
        if self._thread is not None:
            return
        self._loop_thread_id = threading.get_ident()
        self._beat()
        self._thread = threading.Thread(
            target=self._monitor, name="oneloop-watchdog", daemon=True
        )
        self._thread.start()

    def _beat(self) -> None:
        """Heartbeat callback: record that the loop got here, and come back.

        Its own callers are the loop's machinery (``run_forever``, the
        runner, ``Handle._run``...): their code objects tell the monitor
        which frames of a sampled stack to skip to find the callback.
        """
        self._last_beat = time.monotonic()
        if not self._machinery:
            codes = []
            frame = sys._getframe(1)
            while frame is not None:
                codes.append(frame.f_code)
                frame = frame.f_back
            self._machinery = frozenset(codes)
        if not self._stop.is_set():
            self._timer = self.loop.call_later(self.period, self._beat)

    def stop(self) -> None:
        """Stop watching. Safe to call from any thread, more than once."""
        self._stop.set()
        timer, self._timer = self._timer, None
        if timer is not None:
            try:
                self.loop.call_soon_threadsafe(timer.cancel)
            except RuntimeError:  # the loop is closed already
                pass

    # -- in the monitor thread ----------------------------------------------

    def _monitor(self) -> None:
        stall_since: float | None = None  # when the overdue heartbeat was due
        callback: FrameType | None = None  # the callback seen blocking
        callback_since = 0.0
        stack: list[str] | None = None  # captured once the stall qualifies
        reported = False
        while not self._stop.wait(self.period):
            self.checks += 1
            loop = self.loop
            if loop.is_closed():
                break
            now = time.monotonic()
            due = self._last_beat + self.period
            if not loop.is_running() or now - due < self.period / 2:
                # The heartbeat is on time (or the loop is not running at
                # all): a stall in progress, if any, has ended.
                if stack is not None and not reported:
                    self._report(stack, self._last_beat - stall_since, ended=True)
                stall_since, callback, stack, reported = None, None, None, False
                continue
            if stall_since is None:
                stall_since = due
            frame = sys._current_frames().get(self._loop_thread_id)  # type: ignore[arg-type]
            if frame is None:
                continue
            current = self._callback_frame(frame)
            if current is not callback:
                callback, callback_since = current, now
            elapsed = now - stall_since
            if (
                stack is None
                and elapsed >= self.threshold
                and now - callback_since + self.period >= self.threshold
            ):
                stack = self._format(frame)
            del frame, current
            if stack is not None and not reported and elapsed >= self.max_wait:
                self._report(stack, elapsed, ended=False)
                reported = True
        callback = None

    def _callback_frame(self, frame: FrameType) -> FrameType:
        """The outermost frame of ``frame``'s stack that is not the loop's
        own machinery: the callback (or bridge greenlet) that is running."""
        machinery = self._machinery
        outermost = frame
        walker: FrameType | None = frame
        while walker is not None:
            if walker.f_code in machinery:
                break
            outermost = walker
            walker = walker.f_back
        return outermost

    def _format(self, frame: FrameType) -> list[str]:
        machinery = self._machinery
        frames = [
            (walked, lineno)
            for walked, lineno in traceback.walk_stack(frame)
            if walked.f_code not in machinery
            and os.path.normcase(os.path.realpath(walked.f_code.co_filename))
            != _OWN_FILE
        ]
        summary = traceback.StackSummary.extract(reversed(frames), lookup_lines=True)
        del frames
        lines = [
            f"  {entry.filename}:{entry.lineno} in {entry.name}\n"
            + (f"    {entry.line}\n" if entry.line else "")
            for entry in summary
        ]
        culprit = next(
            (
                entry
                for entry in reversed(summary)
                if not _is_library_file(entry.filename)
            ),
            summary[-1] if summary else None,
        )
        where = (
            f"{culprit.filename}:{culprit.lineno} in {culprit.name}"
            if culprit is not None
            else "unknown code"
        )
        return [where, "".join(lines)]

    def _report(self, stack: list[str], duration: float, *, ended: bool) -> None:
        where, lines = stack
        state = "was blocked for" if ended else "has been blocked for at least"
        self.warnings_logged += 1
        logger.warning(
            "The event loop %s %.0f ms (threshold %.0f ms) by %s; every other "
            "request waited meanwhile. Run blocking calls (time.sleep, requests, "
            "CPU-heavy work, C libraries doing their own IO) through "
            "oneloop.offload(fn, *args), which runs them in a thread while the "
            "loop goes on. Stack of the blocking code, most recent call last:\n%s",
            state,
            duration * 1000,
            self.threshold * 1000,
            where,
            lines,
        )


_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWatchdog] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def start_watchdog(
    loop: asyncio.AbstractEventLoop | None = None, threshold_ms: float = 100
) -> LoopWatchdog:
    """Watch ``loop`` (default: the running loop) for stalls longer than
    ``threshold_ms``. Idempotent: a loop keeps the first watchdog started on
    it. Call it from the loop's thread."""
    if loop is None:
        loop = asyncio.get_running_loop()
    with _lock:
        watchdog = _watchdogs.get(loop)
        if watchdog is None or watchdog._stop.is_set():
            watchdog = _watchdogs[loop] = LoopWatchdog(loop, threshold_ms)
            watchdog.start()
    return watchdog


def get_watchdog(loop: asyncio.AbstractEventLoop | None = None) -> LoopWatchdog | None:
    """The watchdog running on ``loop`` (default: the running loop), if any."""
    if loop is None:
        loop = asyncio.get_running_loop()
    watchdog = _watchdogs.get(loop)
    if watchdog is None or watchdog._stop.is_set():
        return None
    return watchdog


def stop_watchdog(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Stop the watchdog of ``loop`` (default: the running loop), if any."""
    if loop is None:
        loop = asyncio.get_running_loop()
    with _lock:
        watchdog = _watchdogs.pop(loop, None)
    if watchdog is not None:
        watchdog.stop()
