"""Isolation fuzz for consumers: 20 users, each logged in by a session
cookie, on concurrent sockets through ``AuthMiddlewareStack``, served
in-process (Channels' ``WebsocketCommunicator``) on the test's loop.

Hypothesis draws each user's steps (reads, database pauses, writes inside
``atomic``) and the order in which the sync handlers pass their yield
points: one handler at a time runs from one yield point to the next, so the
interleaving is the drawn one (on PostgreSQL a yield point also sits inside
each write's transaction). After every step a handler records what it sees;
each user must see only its own ``scope["user"]``, its own session and its
own rows (others' uncommitted rows never show).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import Iterator

import pytest
from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import JsonWebsocketConsumer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection, transaction
from django.urls import path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oneloop
from tests.sleeping_sql import register_sleep, sleep_sql
from tests.testapp.models import Book

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERS = 20
STEPS = ["read", "pause", "write"]
_examples = itertools.count()


class Turns:
    """Lets one handler at a time run from one yield point to the next, in
    a drawn order of users."""

    def __init__(self, order: list[str]) -> None:
        self.order = order
        self.position = 0
        self.holder: str | None = None
        self.changed = asyncio.Condition()

    async def take(self, name: str) -> None:
        async with self.changed:
            self._release(name)
            await self.changed.wait_for(
                lambda: self.holder is None and self.order[self.position] == name
            )
            self.holder = name
            self.position += 1

    async def done(self, name: str) -> None:
        async with self.changed:
            self._release(name)

    def _release(self, name: str) -> None:
        if self.holder == name:
            self.holder = None
            self.changed.notify_all()


turns: Turns | None = None


def yield_point(name: str) -> None:
    """From a handler: wait (on the loop) until it is ``name``'s turn."""
    assert turns is not None
    oneloop.await_(turns.take(name))


class IsolationConsumer(JsonWebsocketConsumer):
    def receive_json(self, content, **kwargs):
        user = self.scope["user"].username
        mine = f"iso-{content['example']}-{user}"
        seen = []
        for step, ms in content["steps"]:
            yield_point(user)
            if step == "pause":
                with connection.cursor() as cursor:
                    cursor.execute(sleep_sql(connection.vendor), [ms / 1000])
            elif step == "write":
                with transaction.atomic():
                    Book.objects.create(title=mine)
                    if connection.vendor == "postgresql":
                        # SQLite's one writer would wait on a parked handler.
                        yield_point(user)
                    seen.append(self.observe(mine))
            seen.append(self.observe(mine))
        self.send_json(seen)
        oneloop.await_(turns.done(user))

    def observe(self, mine: str) -> dict:
        return {
            "user": self.scope["user"].username,
            "session": self.scope["session"].get("marker"),
            "rows": Book.objects.filter(title=mine).count(),
            # Rows of the other users of this example that it can see.
            "others": Book.objects.filter(
                title__startswith=mine[: mine.rindex("-") + 1]
            )
            .exclude(title=mine)
            .count(),
        }


application = AuthMiddlewareStack(
    URLRouter([path("ws/iso/", IsolationConsumer.as_asgi())])
)


def tokens(plans: list, vendor: str) -> list[str]:
    """Every yield point of every user's handler, in user order."""
    found = []
    for n, steps in enumerate(plans):
        for step, _ms in steps:
            found.append(f"user{n}")
            if step == "write" and vendor == "postgresql":
                found.append(f"user{n}")
    return found


@st.composite
def schedules(draw):
    plans = draw(
        st.lists(
            st.lists(
                st.tuples(st.sampled_from(STEPS), st.integers(0, 10)),
                min_size=1,
                max_size=3,
            ),
            min_size=USERS,
            max_size=USERS,
        )
    )
    order = draw(st.permutations(tokens(plans, connection.vendor)))
    return plans, order


def log_in(user: User) -> str:
    """A session in which ``user`` is logged in, with a marker of its own."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session["marker"] = f"marker-{user.username}"
    session.save()
    return session.session_key


async def run_example(cookies: list[str], plans: list, order: list[str]) -> None:
    global turns
    turns = Turns(order)
    example = next(_examples)
    communicators = [
        WebsocketCommunicator(
            application, "/ws/iso/", headers=[(b"cookie", f"sessionid={key}".encode())]
        )
        for key in cookies
    ]
    for communicator in communicators:
        connected, _ = await communicator.connect()
        assert connected
    try:
        await asyncio.gather(
            *(
                c.send_json_to({"example": example, "steps": steps})
                for c, steps in zip(communicators, plans, strict=True)
            )
        )
        replies = await asyncio.gather(
            *(c.receive_json_from(timeout=30) for c in communicators)
        )
    finally:
        for communicator in communicators:
            await communicator.disconnect()
    expected = simulate(plans, order, connection.vendor)
    for n, seen in enumerate(replies):
        assert [s["user"] for s in seen] == [f"user{n}"] * len(expected[n])
        assert {s["session"] for s in seen} == {f"marker-user{n}"}
        assert [(s["rows"], s["others"]) for s in seen] == expected[n]


def simulate(plans: list, order: list[str], vendor: str) -> list[list[tuple]]:
    """What each user must observe, step by step, when the handlers run one
    at a time in ``order``: (its own rows, its uncommitted one included;
    the rows the others have committed)."""
    committed = [0] * len(plans)
    # Each user's handler as the segments that follow its yield points.
    segments: list[collections.deque] = []
    seen: list[list[tuple]] = [[] for _ in plans]
    for steps in plans:
        queue: collections.deque = collections.deque()
        for step, _ms in steps:
            if step != "write":
                queue.append(["observe"])
            elif vendor == "postgresql":
                queue.extend([[], ["observe_uncommitted", "commit", "observe"]])
            else:
                queue.append(["observe_uncommitted", "commit", "observe"])
        segments.append(queue)
    for token in order:
        n = int(token.removeprefix("user"))
        for action in segments[n].popleft():
            others = sum(committed) - committed[n]
            if action == "observe":
                seen[n].append((committed[n], others))
            elif action == "observe_uncommitted":
                seen[n].append((committed[n] + 1, others))
            else:
                committed[n] += 1
    return seen


@pytest.fixture
def cookies() -> list[str]:
    users = [
        User.objects.create_user(f"user{n}", password=f"pw-user{n}")
        for n in range(USERS)
    ]
    return [log_in(user) for user in users]


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """One loop for every example (so one pool), closed at the end."""
    from django.db.backends.signals import connection_created

    connection_created.connect(register_sleep)
    with asyncio.Runner() as loop_runner:
        yield loop_runner
        loop_runner.run(oneloop.aclose_pools())
    connection_created.disconnect(register_sleep)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(schedule=schedules())
def test_each_user_sees_only_its_own_user_session_and_rows(
    runner: asyncio.Runner, cookies: list[str], schedule
) -> None:
    plans, order = schedule
    runner.run(asyncio.wait_for(run_example(cookies, plans, order), 60))
