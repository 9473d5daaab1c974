"""Views of the test project. Sync views are plain Django; the tests drive
them over HTTP and check where and how they ran."""

import contextvars
import random
import threading
import time

from django.contrib import messages
from django.contrib.auth import aauthenticate, alogin, authenticate, login
from django.db import connection, transaction
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt

import oneloop
from tests.testapp.models import Book, Counter

# Set by the request_started receiver (see apps.py), read by the views.
started_thread: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "started_thread", default=None
)
# Thread ids of request_finished receivers, newest last.
finished_threads: list[int] = []


def _threads() -> list[str]:
    return sorted(thread.name for thread in threading.enumerate())


async def loop_thread(request):
    """The server loop's thread id (async views run on the loop)."""
    return JsonResponse({"thread": threading.get_ident(), "threads": _threads()})


def sync_thread(request):
    """Where the sync view, its middleware and receivers ran."""
    return JsonResponse(
        {
            "thread": threading.get_ident(),
            "middleware": request.mw_threads,
            "async_middleware": request.async_mw_thread,
            "request_started": started_thread.get(),
            "threads": _threads(),
        }
    )


async def finished(request):
    """Thread ids of the latest request_finished receivers."""
    return JsonResponse({"threads": finished_threads[-5:]})


def pg_sleep(request):
    """One real database wait of ``?s=`` seconds, through Django's cursor."""
    seconds = float(request.GET.get("s", "0.2"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
    return JsonResponse({"slept": seconds, "thread": threading.get_ident()})


def one_query(request):
    """The benchmark view: one indexed ORM lookup."""
    book = Book.objects.filter(n=int(request.GET.get("n", "1"))).first()
    return HttpResponse(book.title if book else "-")


@csrf_exempt
def login_view(request):
    """Log a user in (sync login) and keep a marker and a time zone in the
    session."""
    user = authenticate(
        request,
        username=request.POST["username"],
        password=request.POST["password"],
    )
    if user is None:
        return JsonResponse({"error": "bad credentials"}, status=403)
    login(request, user)
    request.session["marker"] = request.POST["marker"]
    request.session["tz"] = request.POST["tz"]
    return JsonResponse({"user": user.username})


@csrf_exempt
async def alogin_view(request):
    """The same with ``aauthenticate``/``alogin`` in an async view."""
    user = await aauthenticate(
        request,
        username=request.POST["username"],
        password=request.POST["password"],
    )
    if user is None:
        return JsonResponse({"error": "bad credentials"}, status=403)
    await alogin(request, user)
    await request.session.aset("marker", request.POST["marker"])
    await request.session.aset("tz", request.POST["tz"])
    return JsonResponse({"user": user.username, "threads": _threads()})


def _pause(request) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [random.uniform(0, 0.03)])


def isolation(request):
    """Read user, session, language and time zone, with database awaits in
    between, so that other requests run while this one waits."""
    _pause(request)
    first = request.user.username
    _pause(request)
    marker = request.session.get("marker")
    _pause(request)
    language = translation.get_language()
    _pause(request)
    tz = timezone.get_current_timezone_name()
    _pause(request)
    return JsonResponse(
        {
            "user": first,
            "user_again": request.user.username,
            "marker": marker,
            "marker_again": request.session.get("marker"),
            "language": language,
            "language_again": translation.get_language(),
            "tz": tz,
            "tz_again": timezone.get_current_timezone_name(),
            "thread": threading.get_ident(),
        }
    )


async def contrib_async(request):
    """auser(), async permission checks and session reads in an async view,
    then the threads alive: an executor thread would show up here."""
    user = await request.auser()
    return JsonResponse(
        {
            "user": user.username,
            "is_superuser": user.is_superuser,
            "can_add_book": await user.ahas_perm("testapp.add_book"),
            "marker": await request.session.aget("marker"),
            "threads": _threads(),
        }
    )


def _write_then_wait(token: str, seconds: float) -> None:
    with transaction.atomic():
        Counter.objects.create(name=token, value=1)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_sleep(%s) /* {token} */", [seconds])


def disconnect(request):
    """Write a row, then wait in the same transaction; a client that goes
    away meanwhile must leave nothing committed."""
    _write_then_wait(request.GET["token"], float(request.GET.get("s", "5")))
    return HttpResponse("finished")


async def adisconnect(request):
    """The same body run from an async view (cancellable in both modes)."""
    await oneloop.run_sync(
        _write_then_wait, request.GET["token"], float(request.GET.get("s", "5"))
    )
    return HttpResponse("finished")


def sleepy(request):
    """Blocks the loop (under oneloop): the watchdog must report this line."""
    time.sleep(0.3)  # BLOCKING-LINE
    return HttpResponse("slept")


def sleepy_offloaded(request):
    """The fix the watchdog suggests: the loop stays free."""
    oneloop.offload(time.sleep, 0.3)
    return HttpResponse("slept in a thread")


async def asleepy(request):
    """Blocks the loop from an async view, in either mode."""
    time.sleep(0.3)  # noqa: ASYNC251 ASYNC-BLOCKING-LINE
    return HttpResponse("slept")


async def fast(request):
    return HttpResponse("fast")


def streaming(request):
    """A sync iterator that queries the database for every chunk."""

    def chunks():
        for n in range(3):
            with connection.cursor() as cursor:
                cursor.execute("SELECT %s", [n])
                (value,) = cursor.fetchone()
            yield f"{value}:{threading.get_ident()}\n"

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def add_message(request):
    messages.success(request, f"hello {request.GET.get('who', 'you')}")
    return HttpResponse("added")


def show_messages(request):
    return JsonResponse({"messages": [str(m) for m in messages.get_messages(request)]})


def db_and_cache(request):
    """One query and one cache round trip: opens the server's database and
    cache pools."""
    from django.core.cache import cache

    cache.set("db-and-cache", Book.objects.count())
    return JsonResponse({"books": cache.get("db-and-cache")})
