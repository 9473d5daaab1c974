"""What Django's MySQL backend relies on, through the MySQL ENGINE in a
bridge (asyncmy), compared with the same calls on the sync path (Django's
own mysqlclient): conversions, error classes, row counts, session options,
health checks, row locks; and the pool: one connection per task, cancelled
queries killed on the server, connections given back rolled back."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import decimal
import time
from typing import Any

import MySQLdb
import pytest
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    connection,
    transaction,
)
from django.db.backends.signals import connection_created
from django.test import override_settings

import oneloop
from oneloop.db.backends.mysql._facade import ConnectionFacade
from oneloop.db.backends.mysql.base import DatabaseWrapper
from tests.db.conftest import cancel_mid_query
from tests.mysql_server import OPEN_TRANSACTIONS
from tests.testapp.models import Author, Book

pytestmark = [pytest.mark.mysql, pytest.mark.django_db(transaction=True)]


def _connection_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        return cursor.fetchone()[0]


def _other_sessions() -> list[tuple]:
    """Sessions of the test database other than the asking one: (id,
    command, info)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ID, COMMAND, INFO FROM information_schema.PROCESSLIST "
            "WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
        )
        return list(cursor.fetchall())


def _open_transactions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(OPEN_TRANSACTIONS)
        return cursor.fetchone()[0]


async def test_twenty_sleeps_run_at_once_each_on_its_own_connection():
    def slow() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT SLEEP(0.2), CONNECTION_ID()")
            return cursor.fetchone()[1]

    start = time.perf_counter()
    ids = await asyncio.gather(*(oneloop.run_sync(slow) for _ in range(20)))
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"20 x 0.2 s took {elapsed:.2f} s"
    assert len(set(ids)) == 20


async def test_children_share_the_parents_transaction_and_not_outside_it():
    def parent():
        outside = oneloop.gather(_connection_id, _connection_id)
        with transaction.atomic():
            Book.objects.create(title="uncommitted", n=7)
            own = _connection_id()

            def child():
                return _connection_id(), Book.objects.filter(n=7).exists()

            return outside, own, oneloop.gather(child, child, child)

    outside, own, children = await oneloop.run_sync(parent)
    assert len(set(outside)) == 2
    assert children == [(own, True)] * 3


async def test_cancelled_query_is_killed_on_the_server_and_rolled_back():
    started = asyncio.Event()
    ids = []
    loop = asyncio.get_running_loop()

    def long_query():
        with transaction.atomic():
            Book.objects.create(title="never committed", n=1)
            ids.append(_connection_id())
            loop.call_soon_threadsafe(started.set)
            with connection.cursor() as cursor:
                cursor.execute("SELECT SLEEP(5)")

    cancelled_at = await cancel_mid_query(long_query, started)
    while True:
        sessions = await oneloop.run_sync(_other_sessions)
        if ids[0] not in {row[0] for row in sessions}:
            break
        assert time.perf_counter() < cancelled_at + 2, sessions
        await asyncio.sleep(0.05)
    assert await oneloop.run_sync(_open_transactions) == 0
    assert not await Book.objects.filter(n=1).aexists()
    # The pool replaced the killed connection: it works, on a new session.
    assert await oneloop.run_sync(_connection_id) != ids[0]


async def test_connection_goes_back_rolled_back_and_in_autocommit():
    def leave_open() -> int:
        transaction.set_autocommit(False)
        Book.objects.create(title="left open", n=1)
        return _connection_id()

    first = await asyncio.create_task(oneloop.run_sync(leave_open))
    await asyncio.sleep(0.05)  # the finished task gives its connection back

    def reuse() -> tuple[int, bool, int]:
        return _connection_id(), connection.get_autocommit(), _open_transactions()

    again, autocommit, open_transactions = await oneloop.run_sync(reuse)
    assert again == first  # the same connection, from the pool
    assert autocommit and open_transactions == 0
    assert not await Book.objects.filter(n=1).aexists()


def _count_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of each driver call that goes through the
    loop (``ConnectionFacade.io``), in order."""
    awaited: list[str] = []
    io = ConnectionFacade.io

    def counting_io(self: ConnectionFacade, awaitable: Any) -> Any:
        awaited.append(awaitable.__qualname__)
        return io(self, awaitable)

    monkeypatch.setattr(ConnectionFacade, "io", counting_io)
    return awaited


def _session_settings() -> tuple[int, str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CONNECTION_ID(), @@SESSION.tx_isolation, @@SESSION.sql_auto_is_null"
        )
        return cursor.fetchone()


async def test_a_pooled_connection_is_set_up_once_and_keeps_its_session(
    monkeypatch,
):
    first = await asyncio.create_task(oneloop.run_sync(_session_settings))
    await asyncio.sleep(0.05)  # the finished task gives its connection back
    awaited = _count_round_trips(monkeypatch)
    again = await asyncio.create_task(oneloop.run_sync(_session_settings))
    # The same connection, still with Django's session settings, which the
    # new task did not send again; nor did setting autocommit, already on,
    # go through the loop: the query was its only round trip.
    assert again == first and again[1:] == ("READ-COMMITTED", 0)
    assert awaited == ["Cursor.execute"]


async def test_init_connection_state_called_again_sends_the_settings(monkeypatch):
    awaited = _count_round_trips(monkeypatch)

    def connect_then_init_again() -> list[str]:
        connection.ensure_connection()
        before = len(awaited)
        # Called by hand (as Django's own tests do), not by connect().
        connection.init_connection_state()
        return awaited[before:]

    assert await oneloop.run_sync(connect_then_init_again) == ["Cursor.execute"]


async def test_a_copy_wanting_another_isolation_level_gets_it_from_the_pool():
    def levels() -> tuple[str, str]:
        other = connection.copy()
        other.settings_dict["OPTIONS"] = {
            **other.settings_dict["OPTIONS"],
            "isolation_level": "serializable",
        }
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT @@SESSION.tx_isolation")
                level = cursor.fetchone()[0]
        finally:
            other.close()  # back to the pool, serializable
        return level, _session_settings()[1]

    assert await oneloop.run_sync(levels) == ("SERIALIZABLE", "READ-COMMITTED")


CREATE_VALUES = """
    CREATE TABLE oneloop_values (
        d DECIMAL(12, 4), dt DATETIME(6), ts TIMESTAMP(6) NULL, day DATE,
        t TIME(6), j JSON, b LONGBLOB, f DOUBLE, i BIGINT, tiny TINYINT,
        s VARCHAR(50), bits BIT(8), y YEAR
    )
"""
INSERT_VALUES = (
    "INSERT INTO oneloop_values VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%s, b'00000101', %s)"
)
VALUES = (
    decimal.Decimal("12345678.1234"),
    datetime.datetime(2024, 2, 29, 23, 59, 58, 123456),
    datetime.datetime(2024, 2, 29, 1, 2, 3, 4),
    datetime.date(1999, 12, 31),
    datetime.time(13, 14, 15, 161718),
    '{"a": [1, 2.5, "é"]}',
    bytes(range(256)),
    1.5,
    2**62,
    -3,
    "héllo 🙂",
    2024,
)


def _values_round_trip() -> tuple[tuple, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM oneloop_values")
        cursor.execute(INSERT_VALUES, VALUES)
        cursor.execute("SELECT * FROM oneloop_values")
        return cursor.fetchone(), [column[0] for column in cursor.description]


@pytest.fixture
def values_table():
    with connection.cursor() as cursor:
        cursor.execute(CREATE_VALUES)
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE oneloop_values")


async def test_conversions_are_mysqlclients(values_table):
    bridged, names = await oneloop.run_sync(_values_round_trip)
    stock, stock_names = await asyncio.to_thread(_values_round_trip)
    assert names == stock_names
    assert [type(v) for v in bridged] == [type(v) for v in stock]
    assert bridged == stock
    assert isinstance(bridged[4], datetime.time)  # Django's TIME, not timedelta
    assert bridged[6] == bytes(range(256))


def _literals() -> tuple[tuple, list]:
    """Parameters as Django's backend writes a binary field's (``_binary
    %s``), and defaults as its schema editor quotes them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT _binary %s, %s", [bytes(range(256)), "é'%"])
        selected = cursor.fetchone()
    editor = connection.schema_editor()
    values = ("é'%", b"by'tes", bytearray(b"x"), False, 42, 1.5, None)
    return selected, [editor.quote_value(value) for value in values]


async def test_parameters_and_quoted_defaults_are_mysqlclients():
    bridged = await oneloop.run_sync(_literals)
    stock = await asyncio.to_thread(_literals)
    assert bridged == stock
    assert bridged[0][0] == bytes(range(256))


def _closed_connection() -> tuple[bool, str, int]:
    connection.ensure_connection()
    connection._close()  # as Django's own tests do: the connection is gone
    try:
        usable = connection.is_usable()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as exc:
            return usable, type(exc).__name__, exc.args[0]
        raise AssertionError("a closed connection ran a query")
    finally:
        with contextlib.suppress(DatabaseError):
            connection.close()


async def test_a_closed_connection_refuses_use_as_with_mysqlclient():
    bridged = await oneloop.run_sync(_closed_connection)
    stock = await asyncio.to_thread(_closed_connection)
    assert bridged == stock == (False, OperationalError.__name__, 2006)
    assert await oneloop.run_sync(_connection_id)  # the pool's connection works


async def test_every_tasks_wrapper_knows_the_server_without_a_query():
    def server() -> dict[str, Any]:
        return connection.mysql_server_data

    first = await oneloop.run_sync(server)
    # A new task has a wrapper of its own. Django's backend would read the
    # server's data on it again, over a connection of its own.
    opened: list[Any] = []

    def record(sender: Any, connection: Any, **kwargs: Any) -> None:
        opened.append(connection)

    connection_created.connect(record)
    try:
        again = await asyncio.create_task(oneloop.run_sync(server))
    finally:
        connection_created.disconnect(record)
    assert again == first and not opened
    assert "version" in first


@pytest.mark.parametrize("use_tz", [True, False])
async def test_datetimes_round_trip_with_and_without_use_tz(use_tz):
    with override_settings(USE_TZ=use_tz):
        when = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)
        if use_tz:
            when = when.replace(tzinfo=datetime.UTC)
        book = await Book.objects.acreate(title="t", n=1, published=when)
        bridged = (await Book.objects.aget(pk=book.pk)).published
        stock = await asyncio.to_thread(lambda: Book.objects.get(pk=book.pk).published)
    assert bridged == stock == when


def _error_classes() -> list[str]:
    Author.objects.create(name="unique")
    seen = []
    for attempt in (
        lambda: Author.objects.create(name="unique"),  # duplicate key: 1062
        lambda: Author.objects.create(name=None),  # NOT NULL, via CursorWrapper
        lambda: Author.objects.create(name="x" * 300),  # too long (strict mode)
        lambda: connection.cursor().execute("SELEC 1"),  # syntax
        lambda: connection.cursor().execute("SELECT nope FROM testapp_book"),
    ):
        try:
            with transaction.atomic():
                attempt()
        except DatabaseError as exc:
            seen.append(f"{type(exc).__name__}:{exc.args[0]}")
    Author.objects.all().delete()
    return seen


async def test_errors_reach_user_code_as_djangos_classes_as_on_the_sync_path():
    bridged = await oneloop.run_sync(_error_classes)
    stock = await asyncio.to_thread(_error_classes)
    assert bridged == stock
    assert [entry.split(":")[0] for entry in bridged] == [
        IntegrityError.__name__,
        IntegrityError.__name__,
        DataError.__name__,
        ProgrammingError.__name__,
        OperationalError.__name__,
    ]


async def test_update_counts_matched_rows_not_changed_rows():
    await Book.objects.acreate(title="same", n=1)
    # FOUND_ROWS: a row matched but left as it was still counts.
    assert await Book.objects.filter(n=1).aupdate(title="same") == 1


def _session() -> tuple[str, str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.tx_isolation, @@character_set_client, @x")
        return cursor.fetchone()


async def test_isolation_level_init_command_and_charset_options():
    settings = {
        **connection.settings_dict,
        "OPTIONS": {
            "isolation_level": "repeatable read",
            "init_command": "SET @x = 42",
            "charset": "utf8mb4",
        },
    }
    custom = DatabaseWrapper(settings, alias="custom_options")

    def session():
        try:
            with custom.cursor() as cursor:
                cursor.execute(
                    "SELECT @@SESSION.tx_isolation, @@character_set_client, @x"
                )
                return cursor.fetchone()
        finally:
            custom.close()

    assert await oneloop.run_sync(session) == ("REPEATABLE-READ", "utf8mb4", 42)
    # Django's default isolation level on the test alias.
    assert (await oneloop.run_sync(_session))[0] == "READ-COMMITTED"


async def test_sql_mode_is_read_for_djangos_check():
    def check():
        return connection.sql_mode, connection.validation.check()

    sql_mode, messages = await oneloop.run_sync(check)
    assert "STRICT_TRANS_TABLES" in sql_mode
    assert not [m for m in messages if m.id == "mysql.W002"]


async def test_is_usable_and_health_checks_replace_a_killed_connection():
    settings = {**connection.settings_dict, "CONN_HEALTH_CHECKS": True}
    checked = DatabaseWrapper(settings, alias="health_checked")

    def connection_id() -> tuple[int, bool]:
        try:
            with checked.cursor() as cursor:
                cursor.execute("SELECT CONNECTION_ID()")
                return cursor.fetchone()[0], checked.is_usable()
        finally:
            checked.close()

    first, usable = await oneloop.run_sync(connection_id)
    assert usable

    def kill() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("KILL %s", [first])
        return True

    await oneloop.run_sync(kill)
    second, usable = await oneloop.run_sync(connection_id)
    assert usable and second != first

    def unusable_after_kill() -> bool:
        try:
            checked.ensure_connection()
            with connection.cursor() as cursor:
                cursor.execute("KILL %s", [checked.connection.thread_id()])
            return checked.is_usable()
        finally:
            checked.close()

    assert await oneloop.run_sync(unusable_after_kill) is False


async def test_select_for_update_nowait_and_skip_locked():
    await Book.objects.abulk_create([Book(title="b", n=i) for i in range(3)])
    locked = asyncio.Event()
    release = asyncio.Event()

    def holder():
        with transaction.atomic():
            list(Book.objects.select_for_update().filter(n=0))
            oneloop.await_(_set(locked))
            oneloop.await_(release.wait())

    async def _set(event: asyncio.Event) -> None:
        event.set()

    def nowait():
        with transaction.atomic():
            return list(Book.objects.select_for_update(nowait=True).filter(n=0))

    def skip_locked():
        with transaction.atomic():
            rows = Book.objects.select_for_update(skip_locked=True).order_by("n")
            return [book.n for book in rows]

    task = asyncio.create_task(oneloop.run_sync(holder))
    await locked.wait()
    with pytest.raises(OperationalError):
        await oneloop.run_sync(nowait)
    assert await oneloop.run_sync(skip_locked) == [1, 2]
    release.set()
    await task


async def test_savepoints_roll_back_only_the_inner_block():
    def nested():
        with transaction.atomic():
            Book.objects.create(title="outer", n=1)
            try:
                with transaction.atomic():
                    Book.objects.create(title="inner", n=2)
                    raise ValueError
            except ValueError:
                pass
        return sorted(Book.objects.values_list("n", flat=True))

    assert await oneloop.run_sync(nested) == [1]


async def test_iterator_reads_every_row_in_chunks():
    await Book.objects.abulk_create([Book(title="b", n=i) for i in range(250)])
    seen = [book.n async for book in Book.objects.order_by("n").aiterator(100)]
    assert seen == list(range(250))


async def test_a_lookup_waits_on_the_loop_once_and_reads_its_rows_in_place(
    monkeypatch,
):
    await Book.objects.acreate(title="one", n=1)
    awaited = _count_round_trips(monkeypatch)
    book = await Book.objects.filter(n=1).afirst()
    # The query; fetching the buffered rows and closing the cursor need
    # no round trip through the loop.
    assert book.title == "one" and awaited == ["Cursor.execute"]


def _two_result_sets() -> tuple[list, list]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1; SELECT 2")
        first = list(cursor.fetchall())
    # Closing the cursor read the second result off the server.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 3")
        return first, list(cursor.fetchall())


async def test_closing_a_cursor_drains_the_results_left_as_with_mysqlclient():
    bridged = await oneloop.run_sync(_two_result_sets)
    stock = await asyncio.to_thread(_two_result_sets)
    assert bridged == stock == ([(1,)], [(3,)])


async def test_a_connection_given_back_goes_to_the_longest_waiting_task():
    settings = {
        **connection.settings_dict,
        "OPTIONS": {"pool": {"min_size": 1, "max_size": 1, "timeout": 10}},
    }
    own = DatabaseWrapper(settings, alias="one_connection")
    served: list[str] = []
    pools: list[Any] = []
    tasks: list[asyncio.Task] = []
    hold, first_served, late_started = asyncio.Event(), asyncio.Event(), asyncio.Event()

    def take(name: str, until: asyncio.Event | None) -> None:
        pool = own.pool
        pool.open()
        pools.append(pool)
        facade = pool.getconn()
        served.append(name)
        first_served.set()
        if until is not None:
            oneloop.await_(until.wait())
        pool.putconn(facade)

    tasks.append(asyncio.create_task(oneloop.run_sync(take, "first", hold)))
    await first_served.wait()
    tasks.append(asyncio.create_task(oneloop.run_sync(take, "waiting", None)))
    await asyncio.sleep(0.05)  # it waits for the one connection
    release = pools[0]._release

    async def release_as_a_request_arrives(aconn: Any, cancelled: bool) -> None:
        # A new task starts while the connection is given back (no round
        # trip: it is in autocommit, out of any transaction).
        if len(tasks) == 2:
            tasks.append(asyncio.create_task(oneloop.run_sync(take, "late", None)))
            late_started.set()
        await release(aconn, cancelled)

    pools[0]._release = release_as_a_request_arrives
    hold.set()
    try:
        await asyncio.wait_for(late_started.wait(), 10)
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    finally:
        await oneloop.run_sync(own.close_pool)
    assert served == ["first", "waiting", "late"]


async def test_pool_false_opens_a_connection_of_its_own():
    settings = {**connection.settings_dict, "OPTIONS": {"pool": False}}
    own = DatabaseWrapper(settings, alias="no_pool")

    def query() -> int:
        try:
            with own.cursor() as cursor:
                cursor.execute("SELECT 1")
                assert own.pool is None
                return cursor.fetchone()[0]
        finally:
            own.close()

    assert await oneloop.run_sync(query) == 1
    assert own.connection is None


async def test_pool_false_kills_the_session_of_a_cancelled_query():
    settings = {**connection.settings_dict, "OPTIONS": {"pool": False}}
    own = DatabaseWrapper(settings, alias="no_pool")
    started = asyncio.Event()
    ids = []
    loop = asyncio.get_running_loop()

    def long_query():
        try:
            with own.cursor() as cursor:
                cursor.execute("SELECT CONNECTION_ID()")
                ids.append(cursor.fetchone()[0])
                loop.call_soon_threadsafe(started.set)
                cursor.execute("SELECT SLEEP(5)")
        finally:
            own.close()

    cancelled_at = await cancel_mid_query(long_query, started)
    assert own.connection is None
    while ids[0] in {row[0] for row in await oneloop.run_sync(_other_sessions)}:
        assert time.perf_counter() < cancelled_at + 2, "the session is still there"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"PASSWORD": "wrong"}, ["Access denied", "'bad'", "USER and PASSWORD"]),
        ({"NAME": "no_such_database"}, ["Unknown database", "'bad'", "NAME"]),
        ({"PORT": "1"}, ["'bad'", "start the server", "HOST and PORT"]),
    ],
    ids=["credentials", "unknown database", "server down"],
)
async def test_connection_errors_name_the_alias_and_the_fix(change, fragments):
    bad = DatabaseWrapper({**connection.settings_dict, **change}, alias="bad")
    with pytest.raises(OperationalError) as info:
        await oneloop.run_sync(bad.ensure_connection)
    assert isinstance(info.value.__cause__, MySQLdb.OperationalError)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        ({"no_such_option": 1}, ["'no_such_option'", "'bad_options'", "Remove it"]),
        ({"pool": {"max_sise": 3}}, ["'max_sise'", "'bad_options'", "max_size"]),
    ],
)
async def test_wrong_options_name_the_alias_and_the_fix(options, fragments):
    from django.core.exceptions import ImproperlyConfigured

    settings = {**connection.settings_dict, "OPTIONS": options}
    bad = DatabaseWrapper(settings, alias="bad_options")
    with pytest.raises(ImproperlyConfigured) as info:
        await oneloop.run_sync(bad.ensure_connection)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_pool_options_the_mysql_pool_lacks_are_system_check_errors():
    from django.core.checks import run_checks

    db = {**connection.settings_dict, "OPTIONS": {"pool": {"max_waiting": 3}}}
    with override_settings(DATABASES={"default": db}):
        errors = [e for e in run_checks() if e.id == "oneloop.E001"]
    assert any("max_waiting" in e.msg for e in errors), errors
    assert "max_size" in errors[0].hint


@pytest.mark.parametrize(
    ("change", "check_id", "fragments"),
    [
        ({"OPTIONS": {"no_such_option": 1}}, "oneloop.E003",
         ["'no_such_option'", "'default'", "asyncmy"]),
        ({"OPTIONS": {"pool": {"max_size": 4}}, "CONN_MAX_AGE": 60}, "oneloop.E001",
         ["'default'", "CONN_MAX_AGE = 60", "persistent"]),
    ],
    ids=["driver option", "pool with CONN_MAX_AGE"],
)  # fmt: skip
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_options_a_bridge_would_refuse_are_system_check_errors(
    change, check_id, fragments
):
    from django.core.checks import run_checks

    db = {**connection.settings_dict, **change}
    with override_settings(DATABASES={"default": db}):
        errors = [e for e in run_checks() if e.id.startswith("oneloop.E")]
    assert [e.id for e in errors] == [check_id], errors
    for fragment in fragments:
        assert fragment in errors[0].msg
    assert errors[0].hint


async def test_a_pool_with_conn_max_age_names_the_alias_and_the_fix():
    from django.core.exceptions import ImproperlyConfigured

    settings = {
        **connection.settings_dict,
        "OPTIONS": {"pool": {"max_size": 2}},
        "CONN_MAX_AGE": 60,
    }
    bad = DatabaseWrapper(settings, alias="persistent_pool")
    with pytest.raises(ImproperlyConfigured) as info:
        await oneloop.run_sync(bad.ensure_connection)
    message = str(info.value)
    assert message.startswith("Pooling doesn't support persistent connections.")
    assert "DATABASES['persistent_pool']" in message
    assert "remove CONN_MAX_AGE" in message
