"""The ``TEST_RUNNER`` for running Django's own test suite against oneloop.

``CompatRunner`` is Django's ``DiscoverRunner`` with four additions, each kept
out of the backends on purpose:

* It drops the few tests that fail on stock Django too: as root (as CI
  runs) ``deviations.root_only_failures``, and with the installed GEOS or
  GDAL ``deviations.library_failures`` (GIS runs only). It filters
  at ``load_tests_for_label``: patching test instances breaks pickling for the
  parallel runner, and overriding ``build_suite`` loses the parallel suite.
* It applies the deviation lists the way Django applies
  ``DatabaseFeatures.django_test_skips`` (``skip``/``expectedFailure`` on the
  test methods): the backends' own in every mode, ``compat.deviations``'
  bridged-only entries in bridged mode, and records each with its reason.
* In bridged mode (``ONELOOP_COMPAT_MODE=bridged``), parallel worker processes
  run their subsuites inside ``oneloop.run_sync`` on a loop of their own, as the
  main process does.
* It records every test's outcome and time and writes them as JSON to
  ``ONELOOP_COMPAT_RESULTS``, from which ``python -m compat report`` builds
  ``docs/compatibility.md``.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
import unittest
from types import TracebackType
from typing import Any

import django
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.runner import (
    DiscoverRunner,
    ParallelTestSuite,
    RemoteTestResult,
    RemoteTestRunner,
    _init_worker,
    _run_subsuite,
    iter_test_cases,
)
from django.utils.module_loading import import_string

from compat import deviations

__all__ = [
    "BridgedParallelTestSuite",
    "CompatParallelTestSuite",
    "CompatResult",
    "CompatRunner",
    "TestTimeout",
]

MODE = os.environ.get("ONELOOP_COMPAT_MODE", "sync")
TEST_TIMEOUT = float(os.environ.get("ONELOOP_COMPAT_TEST_TIMEOUT", "300"))
ErrInfo = tuple[type[BaseException], BaseException, TracebackType | None]

# Outcome of a test; when several are reported (a failed subtest, then the
# test's own outcome), the one with the highest rank wins.
_RANK = {
    "passed": 0,
    "skipped": 1,
    "expected_failure": 2,
    "unexpected_success": 3,
    "failure": 4,
    "error": 5,
}
_HOLDER_ID = re.compile(r"^\w+ \((?P<id>[\w.]+)\)")


def label_of(test_id: str) -> str:
    """The top-level test module (Django's "label") of a test id.

    Class- and module-level errors are reported under ids such as
    ``setUpClass (queries.tests.Queries1Tests)``; those count for the module
    in the parentheses.
    """
    match = _HOLDER_ID.match(test_id)
    if match:
        test_id = match["id"]
    return test_id.split(".", 1)[0]


def uses_oneloop_engines() -> bool:
    """True when any configured database uses one of oneloop's ENGINEs (or a
    backend that subclasses one)."""
    from oneloop.db.backends import supports_bridge

    return any(supports_bridge(db) for db in settings.DATABASES.values())


def wants_oneloop() -> bool:
    """True when the run installs oneloop: on its ENGINEs, or on Django's
    with ``--engine installed``."""
    return uses_oneloop_engines() or os.environ.get("ONELOOP_COMPAT_INSTALLED") == "1"


# -- watchdog ------------------------------------------------------------------


class TestTimeout(Exception):
    """A test (with its class set-up) ran longer than
    ``ONELOOP_COMPAT_TEST_TIMEOUT`` seconds (default 300)."""


class _Watchdog:
    """Per-test timeout, so one hung test fails instead of hanging the run.

    Re-armed whenever a test ends, so class set-up counts for the next test.
    On expiry it prints every thread's stack, then fails the test where it
    waits: from sync code (a plain run, or a bridge greenlet blocked in a
    sync call) by raising ``TestTimeout`` in it; when the event loop is
    running (a bridged test suspended at an ``await_``) by failing the
    future the test's task waits for, so the error surfaces at that
    ``await_`` and the run goes on.
    """

    def __init__(self) -> None:
        self.test_id = "(class set-up)"
        self.task: asyncio.Task[Any] | None = None
        self.enabled = (
            TEST_TIMEOUT > 0
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )
        if self.enabled:
            signal.signal(signal.SIGALRM, self._expired)

    def arm(self, test_id: str) -> None:
        if not self.enabled:
            return
        self.test_id = test_id
        try:
            self.task = asyncio.current_task()
        except RuntimeError:
            self.task = None
        signal.setitimer(signal.ITIMER_REAL, TEST_TIMEOUT)

    def disarm(self) -> None:
        if self.enabled:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _expired(self, signum: int, frame: Any) -> None:
        message = f"{self.test_id} ran longer than {TEST_TIMEOUT:.0f} s"
        print(f"\ncompat: {message}; stacks:", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(all_threads=True)
        from oneloop.bridge import in_bridge

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or in_bridge():
            raise TestTimeout(message)
        waiter = getattr(self.task, "_fut_waiter", None)
        if waiter is not None and not isinstance(waiter, asyncio.Task):

            def fail() -> None:
                if not waiter.done():
                    waiter.set_exception(TestTimeout(message))

            loop.call_soon_threadsafe(fail)
        else:  # nothing to fail: try again later, the run's timeout still holds
            signal.setitimer(signal.ITIMER_REAL, TEST_TIMEOUT)


def _probe() -> tuple[bool, str | None]:
    """Where the current test ran: in a bridge greenlet or not, and the class
    of the DBAPI connection behind ``connections["default"]`` (oneloop's
    async facade in bridged mode, the driver's own class otherwise)."""
    from oneloop.bridge import in_bridge

    raw = connections["default"].connection
    return in_bridge(), None if raw is None else type(raw).__qualname__


# -- worker processes -------------------------------------------------------


class CompatRemoteTestResult(RemoteTestResult):
    """Django's worker-side result plus one event per test with the seconds
    since the previous test of this worker ended, so class and fixture set-up
    time is counted for the label it belongs to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last = time.perf_counter()
        self._watchdog = _Watchdog()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_watchdog", None)
        return state

    def startTestRun(self) -> None:
        super().startTestRun()
        self._watchdog.arm("(set-up of the first test class)")

    def _picklable(self, err: ErrInfo) -> ErrInfo:
        """``err`` itself if it survives pickling, else a ``RuntimeError``
        carrying its text and traceback. Django's parallel runner aborts the
        whole run on an exception it cannot send back (an ``HTTPError``
        holding an open response, for instance); one failing test must not
        cost the results of all the others."""
        try:
            self._confirm_picklable(err)
        except Exception:
            text = "".join(traceback.format_exception(*err))
            replacement = RuntimeError(f"(unpicklable, sent as text)\n{text}")
            return (RuntimeError, replacement, None)
        return err

    def addError(self, test: Any, err: ErrInfo) -> None:
        super().addError(test, self._picklable(err))

    def addFailure(self, test: Any, err: ErrInfo) -> None:
        super().addFailure(test, self._picklable(err))

    def addSubTest(self, test: Any, subtest: Any, err: ErrInfo | None) -> None:
        super().addSubTest(test, subtest, None if err is None else self._picklable(err))

    def addExpectedFailure(self, test: Any, err: ErrInfo) -> None:
        super().addExpectedFailure(test, self._picklable(err))

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self._watchdog.arm(test.id())

    def stopTest(self, test: unittest.TestCase) -> None:
        self.events.append(("compatProbe", self.test_index, *_probe()))
        super().stopTest(test)
        now = time.perf_counter()
        self.events.append(("compatDuration", self.test_index, now - self._last))
        self._last = now
        self._watchdog.arm(f"(set-up of the test after {test.id()})")

    def stopTestRun(self) -> None:
        self._watchdog.disarm()
        super().stopTestRun()


class CompatRemoteTestRunner(RemoteTestRunner):
    resultclass = CompatRemoteTestResult


class CompatParallelTestSuite(ParallelTestSuite):
    """Django's parallel suite, with the timing worker result."""

    runner_class = CompatRemoteTestRunner


_worker_loop: asyncio.Runner | None = None


def _on_worker_loop(coro: Any) -> Any:
    """Run ``coro`` on the worker's loop, from a fresh plain greenlet.

    A ``fork``ed worker starts out *inside* the main process's bridge
    greenlet (``os.fork()`` was called from it), and that greenlet never
    switches back. Running the worker's loop straight from it would make
    ``oneloop.in_bridge()`` true for every coroutine on that loop, so async
    code would be taken for bridged sync code. A plain greenlet gives the loop
    the clean footing a fresh process has.
    """
    from greenlet import greenlet

    assert _worker_loop is not None, "the worker initializer did not run"
    return greenlet(_worker_loop.run).switch(coro)


def _bridged_init_worker(*args: Any) -> None:
    """Set a worker process up the way Django does, inside a bridge.

    With the ``fork`` start method the worker is a copy of the main process
    taken inside its bridge greenlet while its loop was running. That loop
    cannot run here (its selector is shared with the main process), so the
    worker forgets it and starts a loop of its own, which lives as long as the
    worker so connection pools made on it are reused across subsuites. With
    ``spawn`` the worker starts clean and the same code applies.
    """
    global _worker_loop
    from oneloop.bridge import run_sync

    asyncio._set_running_loop(None)
    _worker_loop = asyncio.Runner()
    _on_worker_loop(run_sync(_install_and_init_worker, *args))


# alias -> the test database's serialized contents, as Django's _init_worker
# left them on the wrappers of the task it ran in.
_serialized: dict[str, Any] = {}


def _remember_serialized() -> None:
    """Keep what Django set on this task's wrappers for serialized_rollback:
    after the test databases are made (forked workers inherit it), and after
    Django's _init_worker (spawned workers get it from the main process)."""
    for alias in connections:
        contents = getattr(connections[alias], "_test_serialized_contents", None)
        if contents is not None:
            _serialized[alias] = contents


def _install_and_init_worker(*args: Any) -> None:
    _init_worker(*args)
    if wants_oneloop():  # spawned workers set Django up afresh
        _install_oneloop()
    _remember_serialized()


def _run_subsuite_in_task(args: tuple[Any, ...]) -> tuple[int, list[Any]]:
    # Each subsuite's task has wrappers of its own: give them the contents,
    # which Django's tests read from the wrapper, for serialized_rollback.
    for alias, contents in _serialized.items():
        connections[alias]._test_serialized_contents = contents
    return _run_subsuite(args)


def _bridged_run_subsuite(args: tuple[Any, ...]) -> tuple[int, list[Any]]:
    """Run one subsuite inside a bridge on the worker's loop: one task per
    subsuite, so every test of a ``TestCase`` class shares the task's
    connections and its class-wide transaction, as in the main process."""
    from oneloop.bridge import run_sync

    return _on_worker_loop(run_sync(_run_subsuite_in_task, args))


class BridgedParallelTestSuite(CompatParallelTestSuite):
    """Parallel suite whose workers run their subsuites bridged."""

    init_worker = _bridged_init_worker
    run_subsuite = _bridged_run_subsuite


def _install_oneloop() -> None:
    """What ``"oneloop"`` in ``INSTALLED_APPS`` does. runtests.py replaces
    ``INSTALLED_APPS`` with the apps of the tests it runs, so the runner calls
    ``install()`` itself."""
    import oneloop.patches

    if not oneloop.patches.installed():
        oneloop.patches.install()


# -- main process -----------------------------------------------------------


class CompatResult(unittest.TextTestResult):
    """Django's text result that also records, per test, its outcome, its time
    and, for problems, the traceback, for the JSON report.

    In a parallel run the main process only replays the workers' events, so a
    test's time comes from the worker (``compatDuration``); in a serial run it
    is measured here, the same way: time since the previous test ended.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: dict[str, str] = {}
        self.durations: dict[str, float] = {}
        self.details: dict[str, str] = {}
        self.probe: dict[str, Any] = {}
        self._last = time.perf_counter()
        # Only a serial run executes tests here; a parallel one replays events.
        self._watchdog = _Watchdog() if self.serial else None

    serial = False

    def startTestRun(self) -> None:
        super().startTestRun()
        if self._watchdog is not None:
            self._watchdog.arm("(set-up of the first test class)")

    def stopTestRun(self) -> None:
        if self._watchdog is not None:
            self._watchdog.disarm()
        super().stopTestRun()

    def _record(self, test: Any, outcome: str, err: ErrInfo | None = None) -> None:
        test_id = test.id()
        if _RANK[outcome] >= _RANK[self.outcomes.get(test_id, "passed")]:
            self.outcomes[test_id] = outcome
        if err is not None and outcome in ("failure", "error"):
            text = "".join(traceback.format_exception(*err))
            self.details[test_id] = self.details.get(test_id, "") + text

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self.outcomes.setdefault(test.id(), "passed")
        if self._watchdog is not None:
            self._watchdog.arm(test.id())

    def stopTest(self, test: unittest.TestCase) -> None:
        if self.serial:
            self.compatProbe(test, *_probe())
        super().stopTest(test)
        now = time.perf_counter()
        self.durations[test.id()] = now - self._last
        self._last = now
        if self._watchdog is not None:
            self._watchdog.arm(f"(set-up of the test after {test.id()})")

    def compatDuration(self, test: unittest.TestCase, elapsed: float) -> None:
        self.durations[test.id()] = elapsed

    def compatProbe(
        self, test: unittest.TestCase, bridged: bool, connection: str | None
    ) -> None:
        """Count where tests ran (see ``_probe``): the evidence that a
        bridged run really went through the bridge and the async driver."""
        key = "in_bridge" if bridged else "outside_bridge"
        self.probe[key] = self.probe.get(key, 0) + 1
        if connection is not None:
            conns = self.probe.setdefault("connections", {})
            conns[connection] = conns.get(connection, 0) + 1

    def addError(self, test: Any, err: ErrInfo) -> None:
        super().addError(test, err)
        self._record(test, "error", err)

    def addFailure(self, test: Any, err: ErrInfo) -> None:
        super().addFailure(test, err)
        self._record(test, "failure", err)

    def addSubTest(self, test: Any, subtest: Any, err: ErrInfo | None) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self._record(test, "failure" if failed else "error", err)

    def addSkip(self, test: Any, reason: str) -> None:
        super().addSkip(test, reason)
        self._record(test, "skipped")

    def addExpectedFailure(self, test: Any, err: ErrInfo) -> None:
        super().addExpectedFailure(test, err)
        self._record(test, "expected_failure")

    def addUnexpectedSuccess(self, test: Any) -> None:
        super().addUnexpectedSuccess(test)
        self._record(test, "unexpected_success")
        self.details[test.id()] = "unexpected success"

    def summary(self) -> dict[str, Any]:
        """Counts and time per label, plus every test that did not pass."""
        labels: dict[str, dict[str, Any]] = {}
        for test_id, outcome in self.outcomes.items():
            row = labels.setdefault(
                label_of(test_id),
                {name: 0 for name in ("run", *_RANK)} | {"time": 0.0},
            )
            row["run"] += 1
            row[outcome] += 1
            row["time"] += self.durations.get(test_id, 0.0)
        for row in labels.values():
            row["time"] = round(row["time"], 2)
        problems = [
            {"id": test_id, "outcome": outcome, "detail": self.details.get(test_id)}
            for test_id, outcome in sorted(self.outcomes.items())
            if _RANK[outcome] >= _RANK["unexpected_success"]
        ]
        return {
            "labels": dict(sorted(labels.items())),
            "problems": problems,
            "probe": self.probe,
        }


class CompatRunner(DiscoverRunner):
    """``DiscoverRunner`` for the compat harness; see the module docstring."""

    parallel_test_suite = (
        BridgedParallelTestSuite if MODE == "bridged" else CompatParallelTestSuite
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dropped: dict[str, str] = {}
        self.applied: list[dict[str, str]] = []
        self._drops: dict[str, str] = {}
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            for reason, names in deviations.root_only_failures().items():
                self._drops.update(dict.fromkeys(names, reason))
        if connections[DEFAULT_DB_ALIAS].features.gis_enabled:
            for reason, names in deviations.library_failures().items():
                self._drops.update(dict.fromkeys(names, reason))
        if wants_oneloop():
            _install_oneloop()

    def load_tests_for_label(self, label: str, discover_kwargs: dict) -> Any:
        tests = super().load_tests_for_label(label, discover_kwargs)
        if tests is None or not self._drops:
            return tests
        kept = []
        for test in iter_test_cases(tests):
            reason = self._drops.get(test.id())
            if reason is None:
                kept.append(test)
            else:
                self.dropped[test.id()] = reason
        return self.test_suite(kept)

    def setup_databases(self, **kwargs: Any) -> Any:
        old_config = super().setup_databases(**kwargs)
        self._apply_deviations()
        _remember_serialized()  # before the workers fork: they inherit it
        return old_config

    def _apply_deviations(self) -> None:
        """Mark the deviations on the test classes (before the workers fork,
        so they inherit the marks), and record each with its reason: the
        ENGINE's own (``oneloop.db.backends._deviations``, what its features
        list as ``django_test_skips`` / ``django_test_expected_failures``) in
        every mode, and ``compat.deviations``' bridged lists in bridged mode.
        Marking here does not rely on Django's own marking, which these runs
        did not apply."""
        from oneloop.db.backends import _deviations, supports_bridge

        connection = connections[DEFAULT_DB_ALIAS]
        if not supports_bridge(connection.settings_dict):
            return
        # Every alias shares the vendor in these settings.
        vendor = connection.vendor
        skips = [
            (r, n, "backend features") for r, n in _deviations.SKIPS[vendor].items()
        ]
        xfails = [
            (r, n, "backend features")
            for r, n in _deviations.EXPECTED_FAILURES[vendor].items()
        ]
        if MODE == "bridged":
            skips += [
                (r, n, "bridged") for r, n in deviations.bridged_skips(vendor).items()
            ]
            xfails += [
                (r, n, "bridged")
                for r, n in deviations.bridged_expected_failures(vendor).items()
            ]
        for reason, names, source in skips:
            for name in sorted(names):
                self._mark(name, unittest.skip(reason), "skip", reason, source)
        for reason, names, source in xfails:
            for name in sorted(names):
                self._mark(name, unittest.expectedFailure, "xfail", reason, source)

    def _mark(
        self, name: str, decorator: Any, kind: str, reason: str, source: str
    ) -> None:
        app = name.split(".", 1)[0]
        if app not in settings.INSTALLED_APPS:
            return  # not part of this run; importing it would fail
        owner_name, _, attr = name.rpartition(".")
        try:
            owner = import_string(owner_name)
            target = getattr(owner, attr)
        except (ImportError, AttributeError) as exc:
            raise ImportError(
                f"compat.deviations lists {name!r}, which Django "
                f"{django.get_version()} does not have; gate it on django.VERSION"
            ) from exc
        # A method, or a whole TestCase class: both take the decorator.
        setattr(owner, attr, decorator(target))
        self.applied.append(
            {"test": name, "kind": kind, "reason": reason, "source": source}
        )

    def get_resultclass(self) -> type[unittest.TextTestResult] | None:
        resultclass = super().get_resultclass()
        if resultclass is not None:
            return resultclass
        serial = not isinstance(self._suite, ParallelTestSuite)
        return type("CompatResult", (CompatResult,), {"serial": serial})

    _suite: unittest.TestSuite | None = None

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> Any:
        self._suite = suite
        result = super().run_suite(suite, **kwargs)
        path = os.environ.get("ONELOOP_COMPAT_RESULTS")
        if path and isinstance(result, CompatResult):
            report = result.summary()
            report["dropped"] = [
                {"test": name, "reason": reason}
                for name, reason in sorted(self.dropped.items())
            ]
            report["deviations"] = self.applied
            report["django"] = django.get_version()
            report["tests_run"] = result.testsRun
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(report, fh, indent=1)
        return result
