"""Isolation fuzz: hypothesis draws sets of concurrent requests, each with
its own user, session, language and time zone and a random list of steps
(database pauses, atomic writes, nested atomics rolled back, child tasks
inside and outside atomic). The requests run as concurrent tasks on one
loop, interleaving at every database wait, and each checks after every step
that it still sees only its own state:

* language, time zone and the current user (a context variable, as a
  middleware would set) are the request's own, in it and in its children;
* its session holds its own marker;
* its rows are exactly the ones it wrote (uncommitted rows of others never
  show, rolled-back ones never stay);
* a child task outside ``atomic`` runs on a connection other than its
  parent's; a child inside ``atomic`` runs on the parent's and sees its
  uncommitted row.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection, transaction
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oneloop
from tests.reliability.conftest import scale
from tests.testapp.models import Book

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.postgresql,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(scale(240, 1800)),
]

LANGUAGES = ["en", "fr", "de", "es", "nl", "pt"]
TIME_ZONES = ["UTC", "Europe/Paris", "Asia/Tokyo", "America/New_York"]
STEPS = ["pause", "atomic", "nested_rollback", "child_outside", "child_inside"]

current_user: contextvars.ContextVar[str] = contextvars.ContextVar("current_user")
_ids = itertools.count()

request_plans = st.lists(
    st.tuples(
        st.integers(0, 9),  # user
        st.sampled_from(LANGUAGES),
        st.sampled_from(TIME_ZONES),
        st.lists(
            st.tuples(st.sampled_from(STEPS), st.integers(0, 20)),  # step, ms
            min_size=1,
            max_size=6,
        ),
    ),
    min_size=2,
    max_size=10,
)


class Rollback(Exception):
    """Raised to roll a nested atomic block back."""


def _pid(ms: int = 0) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s), pg_backend_pid()", [ms / 1000])
        return cursor.fetchone()[1]


def _request(rid: int, user: int, lang: str, tz: str, steps: list) -> None:
    """One request: set its state, then run its steps, checking after each."""
    translation.activate(lang)
    timezone.activate(ZoneInfo(tz))
    current_user.set(f"user{user}")
    session = SessionStore()
    session["marker"] = f"r{rid}"
    session.save()
    mine = f"iso-{rid}"
    written = 0

    def own_state() -> tuple[str, str, str]:
        return (
            translation.get_language(),
            timezone.get_current_timezone_name(),
            current_user.get(),
        )

    expected = (lang, tz, f"user{user}")
    for step, ms in steps:
        if step == "pause":
            _pid(ms)
        elif step == "atomic":
            with transaction.atomic():
                Book.objects.create(title=mine, n=rid)
                _pid(ms)
                assert Book.objects.filter(title=mine).count() == written + 1
            written += 1
        elif step == "nested_rollback":
            with transaction.atomic():
                try:
                    with transaction.atomic():
                        Book.objects.create(title=mine, n=rid)
                        _pid(ms)
                        raise Rollback
                except Rollback:
                    pass
                assert Book.objects.filter(title=mine).count() == written
        elif step == "child_outside":
            parent = _pid()
            children = oneloop.gather(
                functools.partial(_pid, ms), own_state, functools.partial(_pid, ms)
            )
            assert parent not in (children[0], children[2]), (parent, children)
            assert children[1] == expected
        else:  # child_inside
            with transaction.atomic():
                Book.objects.create(title=mine, n=rid)
                parent = _pid()
                children = oneloop.gather(
                    functools.partial(_pid, ms),
                    lambda: Book.objects.filter(title=mine).count(),
                    own_state,
                )
            written += 1
            assert children[0] == parent
            assert children[1] == written
            assert children[2] == expected
        assert own_state() == expected, (step, own_state(), expected)
        assert Book.objects.filter(title=mine).count() == written
    assert SessionStore(session.session_key).get("marker") == f"r{rid}"


async def _run_requests(plans: list) -> None:
    tasks = [
        asyncio.create_task(oneloop.run_sync(_request, next(_ids), *plan))
        for plan in plans
    ]
    await asyncio.gather(*tasks)


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """One loop for every example (so one pool), closed at the end."""
    with asyncio.Runner() as loop_runner:
        yield loop_runner


@settings(
    max_examples=scale(25, 300),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(plans=request_plans)
def test_concurrent_requests_never_see_each_other(
    runner: asyncio.Runner, plans: list
) -> None:
    runner.run(asyncio.wait_for(_run_requests(plans), 60))
