"""Isolation fuzz over HTTP: concurrent requests through oneloop's ASGI
handler, in-process (the application called with scope, receive and send),
with the real middleware: sessions, ``LocaleMiddleware``, authentication, an
async-only middleware and a time zone taken from the session.

Hypothesis draws the requests: each logs a user in (or stays anonymous),
with a sync or an async login that keeps a marker and a time zone in its
session, then sends a probe with its own ``Accept-Language``. The probe view
runs a drawn list of steps: plain queries, a child task outside ``atomic``,
and yield points (some inside ``atomic``) where the request waits for its
turn. Hypothesis also draws the order in which the views start and pass
their yield points; one view at a time runs from one turn to the next (only
the middleware before the views runs freely, interleaving at its database
awaits), so the interleaving of the views is the drawn one. After every
step the view records what it sees; each response must show only its own
user, session marker, language and time zone, one database connection for
the whole request, and children on connections of their own that see the
parent's language and time zone.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import aauthenticate, alogin, authenticate, login
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.http import JsonResponse
from django.test import override_settings
from django.urls import path
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oneloop
from oneloop.asgi import ASGIHandler
from tests.reliability.conftest import scale

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.postgresql,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(scale(240, 1800)),
]

USERS = 4
LANGUAGES = ["en", "fr", "de", "es", "nl", "pt"]
TIME_ZONES = ["Europe/Paris", "Asia/Tokyo", "America/New_York", "Africa/Cairo"]
YIELDS = ("turn", "atomic_turn")  # the steps that wait for their turn
STEPS = [*YIELDS, "query", "child"]

_ids = itertools.count()


class Turns:
    """Who goes next: requests take their turns (the start of the view, then
    each yield point) in ``order``, one request id per turn, and one runs at
    a time from a turn to its next turn or its end."""

    def __init__(self, order: list[str]) -> None:
        self.order = order
        self.pos = 0
        self.running: str | None = None
        self.gone: set[str] = set()
        self.waiting: dict[str, asyncio.Future[None]] = {}

    async def turn(self, rid: str) -> None:
        """Wait for the request's next turn (what it ran since its last turn
        ends here)."""
        if self.running == rid:
            self.running = None
        waiter = asyncio.get_running_loop().create_future()
        self.waiting[rid] = waiter
        self._wake()
        await waiter

    def leave(self, rid: str) -> None:
        """The request is done (or failed): it takes no more turns."""
        self.gone.add(rid)
        if self.running == rid:
            self.running = None
        self._wake()

    def _wake(self) -> None:
        while self.pos < len(self.order) and self.order[self.pos] in self.gone:
            self.pos += 1
        if self.running is not None or self.pos == len(self.order):
            return
        waiter = self.waiting.pop(self.order[self.pos], None)
        if waiter is not None:
            self.running = self.order[self.pos]
            self.pos += 1
            waiter.set_result(None)


class Current:
    """The turns of the example that runs (the probe view reads them)."""

    turns = Turns([])


# -- the application -----------------------------------------------------


def _pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _state(request) -> list[Any]:
    return [
        request.user.username,
        request.session.get("marker"),
        translation.get_language(),
        timezone.get_current_timezone_name(),
    ]


def login_view(request):
    user = authenticate(
        request, username=request.POST["username"], password=request.POST["password"]
    )
    login(request, user)
    request.session["marker"] = request.POST["marker"]
    request.session["tz"] = request.POST["tz"]
    return JsonResponse({"user": user.username})


async def alogin_view(request):
    user = await aauthenticate(
        request, username=request.POST["username"], password=request.POST["password"]
    )
    await alogin(request, user)
    await request.session.aset("marker", request.POST["marker"])
    await request.session.aset("tz", request.POST["tz"])
    return JsonResponse({"user": user.username})


def probe(request):
    """Run the drawn steps; record state, connections and children's view."""
    rid, turns = request.GET["rid"], Current.turns
    try:
        oneloop.await_(turns.turn(rid))  # the first turn: the view starts
        seen, pids, children = [_state(request)], [_pid()], []
        for step in request.GET["steps"].split(","):
            if step == "turn":
                oneloop.await_(turns.turn(rid))
            elif step == "atomic_turn":
                with transaction.atomic():
                    pids.append(_pid())
                    oneloop.await_(turns.turn(rid))
                    pids.append(_pid())
            elif step == "query":
                pids.append(_pid())
            else:  # child: a task of its own, outside atomic
                children.append(
                    oneloop.gather(_pid, functools.partial(_state, request))
                )
            seen.append(_state(request))
    finally:
        turns.leave(rid)
    return JsonResponse({"seen": seen, "pids": pids, "children": children})


urlpatterns = [
    path("login/", login_view),
    path("alogin/", alogin_view),
    path("probe/", probe),
]

APP_SETTINGS = {
    "ROOT_URLCONF": __name__,
    "MIDDLEWARE": [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "tests.asgi.project.middleware.async_only_middleware",
        "tests.asgi.project.middleware.TimezoneMiddleware",
    ],
    "USE_I18N": True,
    "LANGUAGE_CODE": "en",
    "LANGUAGES": [(code, code) for code in LANGUAGES],
    "ONELOOP": {"SYNC_VIEWS": "greenlet", "BLOCK_WARN_MS": None},
}


async def _call(
    app: ASGIHandler,
    path_: str,
    *,
    query: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[bytes, list[bytes]], bytes]:
    """One request to ``app``: status, headers, body."""
    body = urlencode(form).encode() if form is not None else b""
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if form is not None:
        raw_headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST" if form is not None else "GET",
        "scheme": "http",
        "path": path_,
        "raw_path": path_.encode(),
        "query_string": urlencode(query or {}).encode(),
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    received = False
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Future()  # the client never goes away
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = messages[0]
    response_headers: dict[bytes, list[bytes]] = {}
    for name, value in start["headers"]:
        response_headers.setdefault(name.lower(), []).append(value)
    return (
        start["status"],
        response_headers,
        b"".join(m.get("body", b"") for m in messages[1:]),
    )


# -- the scenarios -------------------------------------------------------

request_plans = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, USERS - 1)),  # user; None: anonymous
        st.booleans(),  # async login
        st.sampled_from(LANGUAGES),
        st.sampled_from(TIME_ZONES),
        st.lists(st.sampled_from(STEPS), min_size=1, max_size=6),
    ),
    min_size=2,
    max_size=8,
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Any], list[int]]:
    """Requests, and the order (request indexes) of their turns: the start
    of the view, and each yield point."""
    plans = draw(request_plans)
    turns = [
        n
        for n, plan in enumerate(plans)
        for _ in range(1 + sum(step in YIELDS for step in plan[4]))
    ]
    return plans, draw(st.permutations(turns))


async def _log_in(app: ASGIHandler, rid: str, plan: tuple) -> str | None:
    """Log the request's user in; its session cookie (None: anonymous)."""
    user, use_alogin, _, tz, _ = plan
    if user is None:
        return None
    status, headers, body = await _call(
        app,
        "/alogin/" if use_alogin else "/login/",
        form={
            "username": f"user{user}",
            "password": f"pw-{user}",
            "marker": f"marker-{rid}",
            "tz": tz,
        },
    )
    assert status == 200, body
    cookies = SimpleCookie()
    for value in headers[b"set-cookie"]:
        cookies.load(value.decode())
    return cookies["sessionid"].value


async def _probe(app: ASGIHandler, rid: str, plan: tuple, cookie: str | None) -> None:
    """Send the probe; check that it saw only its own state."""
    user, _, language, tz, steps = plan
    headers = {"Accept-Language": language}
    if cookie is not None:
        headers["Cookie"] = f"sessionid={cookie}"
    try:
        status, _, body = await _call(
            app,
            "/probe/",
            query={"rid": rid, "steps": ",".join(steps)},
            headers=headers,
        )
    finally:
        Current.turns.leave(rid)
    assert status == 200, body
    result = json.loads(body)
    expected = (
        [f"user{user}", f"marker-{rid}", language, tz]
        if user is not None
        else ["", None, language, "UTC"]
    )
    assert result["seen"] == [expected] * (len(steps) + 1), (rid, result["seen"])
    (own,) = set(result["pids"])  # one connection for the whole request
    for child_pid, child_state in result["children"]:
        assert child_pid != own
        assert child_state == expected


async def _run(app: ASGIHandler, scenario: tuple[list[Any], list[int]]) -> None:
    plans, order = scenario
    rids = [f"r{next(_ids)}" for _ in plans]
    cookies = await asyncio.gather(
        *(_log_in(app, rid, plan) for rid, plan in zip(rids, plans, strict=True))
    )
    Current.turns = Turns([rids[n] for n in order])
    await asyncio.gather(
        *(
            _probe(app, rid, plan, cookie)
            for rid, plan, cookie in zip(rids, plans, cookies, strict=True)
        )
    )


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """One loop for every example (so one pool), closed at the end."""
    with asyncio.Runner() as loop_runner:
        yield loop_runner


@pytest.fixture
def app(runner: asyncio.Runner) -> Iterator[ASGIHandler]:
    """oneloop's ASGI handler on this module's views, and the users."""

    def create_users() -> None:
        for n in range(USERS):
            User.objects.create_user(f"user{n}", password=f"pw-{n}")

    with override_settings(**APP_SETTINGS):
        runner.run(oneloop.run_sync(create_users))
        yield ASGIHandler()


@settings(
    max_examples=scale(25, 300),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(scenario=scenarios())
def test_requests_through_the_handler_never_see_each_other(
    runner: asyncio.Runner, app: ASGIHandler, scenario: tuple[list[Any], list[int]]
) -> None:
    runner.run(asyncio.wait_for(_run(app, scenario), 60))
