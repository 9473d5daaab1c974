"""The ``TEST_RUNNER`` for running Django's own test suite against oneloop.

``CompatRunner`` is Django's ``DiscoverRunner`` with four additions, each kept
out of the backends on purpose:

* When the suite runs as root (as CI does), it drops the few tests that fail
  as root on stock Django too (``deviations.root_only_failures``). It filters
  at ``load_tests_for_label``: patching test instances breaks pickling for the
  parallel runner, and overriding ``build_suite`` loses the parallel suite.
* It applies the deviation lists of ``compat.deviations`` the way Django
  applies ``DatabaseFeatures.django_test_skips`` (``skip``/``expectedFailure``
  on the test methods), for the entries the backend features do not carry yet,
  and the bridged-only entries in bridged mode.
* In bridged mode (``ONELOOP_COMPAT_MODE=bridged``), parallel worker processes
  run their subsuites inside ``oneloop.run_sync`` on a loop of their own, as the
  main process does.
* It records every test's outcome and time and writes them as JSON to
  ``ONELOOP_COMPAT_RESULTS``, from which ``python -m compat report`` builds
  ``docs/compatibility.md``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import traceback
import unittest
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import django
from django.conf import settings
from django.db import connections
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
]

MODE = os.environ.get("ONELOOP_COMPAT_MODE", "sync")
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
    """True when any configured database uses one of oneloop's ENGINEs."""
    return any(
        db["ENGINE"].startswith("oneloop.") for db in settings.DATABASES.values()
    )


# -- worker processes -------------------------------------------------------


class CompatRemoteTestResult(RemoteTestResult):
    """Django's worker-side result plus one event per test with the seconds
    since the previous test of this worker ended, so class and fixture set-up
    time is counted for the label it belongs to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last = time.perf_counter()

    def stopTest(self, test: unittest.TestCase) -> None:
        super().stopTest(test)
        now = time.perf_counter()
        self.events.append(("compatDuration", self.test_index, now - self._last))
        self._last = now


class CompatRemoteTestRunner(RemoteTestRunner):
    resultclass = CompatRemoteTestResult


class CompatParallelTestSuite(ParallelTestSuite):
    """Django's parallel suite, with the timing worker result."""

    runner_class = CompatRemoteTestRunner


_worker_loop: asyncio.Runner | None = None


def _bridged_init_worker(*args: Any) -> None:
    """Set a worker process up the way Django does, inside a bridge.

    With the ``fork`` start method the worker is a copy of the main process
    taken *inside* its bridge greenlet, while its loop was running. That loop
    cannot run here (its selector is shared with the main process), so the
    worker forgets it and starts a loop of its own, which lives as long as the
    worker so connection pools made on it are reused across subsuites. With
    ``spawn`` the worker starts clean and the same code applies.
    """
    global _worker_loop
    from oneloop.bridge import run_sync

    asyncio._set_running_loop(None)
    _worker_loop = asyncio.Runner()
    _worker_loop.run(run_sync(_install_and_init_worker, *args))


def _install_and_init_worker(*args: Any) -> None:
    _init_worker(*args)
    if uses_oneloop_engines():  # spawned workers set Django up afresh
        _install_oneloop()


def _bridged_run_subsuite(args: tuple[Any, ...]) -> tuple[int, list[Any]]:
    """Run one subsuite inside a bridge on the worker's loop: one task per
    subsuite, so every test of a ``TestCase`` class shares the task's
    connections and its class-wide transaction, as in the main process."""
    from oneloop.bridge import run_sync

    assert _worker_loop is not None, "the worker initializer did not run"
    return _worker_loop.run(run_sync(_run_subsuite, args))


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
        self._last = time.perf_counter()

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

    def stopTest(self, test: unittest.TestCase) -> None:
        super().stopTest(test)
        now = time.perf_counter()
        self.durations[test.id()] = now - self._last
        self._last = now

    def compatDuration(self, test: unittest.TestCase, elapsed: float) -> None:
        self.durations[test.id()] = elapsed

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
        return {"labels": dict(sorted(labels.items())), "problems": problems}


class CompatRunner(DiscoverRunner):
    """``DiscoverRunner`` for the compat harness; see the module docstring."""

    parallel_test_suite = (
        BridgedParallelTestSuite if MODE == "bridged" else CompatParallelTestSuite
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dropped: dict[str, str] = {}
        self.applied: list[dict[str, str]] = []
        self._root_drops: dict[str, str] = {}
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            for reason, names in deviations.root_only_failures().items():
                self._root_drops.update(dict.fromkeys(names, reason))
        if uses_oneloop_engines():
            _install_oneloop()

    def load_tests_for_label(self, label: str, discover_kwargs: dict) -> Any:
        tests = super().load_tests_for_label(label, discover_kwargs)
        if tests is None or not self._root_drops:
            return tests
        kept = []
        for test in iter_test_cases(tests):
            reason = self._root_drops.get(test.id())
            if reason is None:
                kept.append(test)
            else:
                self.dropped[test.id()] = reason
        return self.test_suite(kept)

    def setup_databases(self, **kwargs: Any) -> Any:
        old_config = super().setup_databases(**kwargs)
        self._apply_deviations()
        return old_config

    def _apply_deviations(self) -> None:
        """Mark the deviations of ``compat.deviations`` on the test classes,
        as Django's ``mark_expected_failures_and_skips`` does for the backend
        features (before the workers fork, so they inherit the marks)."""
        for alias in connections:
            connection = connections[alias]
            vendor = connection.vendor
            features = connection.features
            oneloop = connection.__module__.startswith("oneloop.")
            skip_lists: list[tuple[str, Iterable[str], str]] = []
            xfail_lists: list[tuple[str, Iterable[str], str]] = []
            if oneloop:
                known_skips = {
                    name
                    for names in features.django_test_skips.values()
                    for name in names
                }
                known_xfail = set(features.django_test_expected_failures)
                for reason, names in deviations.skips(vendor).items():
                    skip_lists.append((reason, set(names) - known_skips, "backend"))
                xfail_lists.append(
                    (
                        "backend deviation",
                        deviations.expected_failures(vendor) - known_xfail,
                        "backend",
                    )
                )
                if MODE == "bridged":
                    for reason, names in deviations.bridged_skips(vendor).items():
                        skip_lists.append((reason, names, "bridged"))
                    for reason, names in deviations.bridged_expected_failures(
                        vendor
                    ).items():
                        xfail_lists.append((reason, names, "bridged"))
            for reason, names, source in skip_lists:
                for name in sorted(names):
                    self._mark(name, unittest.skip(reason), "skip", reason, source)
            for reason, names, source in xfail_lists:
                for name in sorted(names):
                    self._mark(name, unittest.expectedFailure, "xfail", reason, source)
            # Every alias shares the vendor in these settings; once is enough.
            break

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
        return super().get_resultclass() or CompatResult

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> Any:
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
