"""Where Django's own test suite and oneloop's ENGINEs knowingly differ.

Django reads ``DatabaseFeatures.django_test_skips`` and
``django_test_expected_failures`` only while its own suite runs
(``RUNNING_DJANGOS_TEST_SUITE=true``). Each entry has its reason; a listed
test that starts passing fails the run, so the lists stay honest.
"""

from __future__ import annotations

# vendor -> reason -> test names
SKIPS: dict[str, dict[str, set[str]]] = {"postgresql": {}, "sqlite": {}}
# vendor -> test names
EXPECTED_FAILURES: dict[str, set[str]] = {"postgresql": set(), "sqlite": set()}


def merge_skips(base: dict[str, set[str]], vendor: str) -> dict[str, set[str]]:
    merged = {reason: set(tests) for reason, tests in base.items()}
    for reason, tests in SKIPS[vendor].items():
        merged.setdefault(reason, set()).update(tests)
    return merged


def merge_expected_failures(base: set[str], vendor: str) -> set[str]:
    return set(base) | EXPECTED_FAILURES[vendor]
