"""GeoDjango on ``oneloop.contrib.gis.db.backends.postgis``: geometries
saved, looked up and measured from a bridge, on psycopg's async connection,
and many spatial queries at once on one thread."""

import asyncio
import threading
import time

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.db import connections
from django.test import override_settings
from django.test.utils import isolate_apps

import oneloop
from oneloop.db.backends.postgresql._facade import ConnectionFacade

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.postgis,
    pytest.mark.django_db(transaction=True, databases=["postgis"]),
]


@pytest.fixture
def place():
    """A model with a point and an area, its table made in the PostGIS
    test database (and only there: the other aliases have no PostGIS)."""
    from django.contrib.gis.db import models

    with isolate_apps("tests.testapp"):

        class Place(models.Model):
            name = models.CharField(max_length=50)
            location = models.PointField(srid=4326)
            area = models.PolygonField(srid=4326, null=True)

            class Meta:
                app_label = "testapp"

    with connections["postgis"].schema_editor() as editor:
        editor.create_model(Place)
    yield Place
    with connections["postgis"].schema_editor() as editor:
        editor.delete_model(Place)


def places(model):
    return model.objects.using("postgis")


def test_the_alias_is_geodjango_on_the_loop_path():
    features = connections["postgis"].features
    assert features.gis_enabled
    assert features.supports_oneloop_bridge


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_no_w001_for_the_postgis_engine():
    with override_settings(DATABASES={"default": settings.DATABASES["postgis"]}):
        warnings = [e for e in run_checks() if e.id == "oneloop.W001"]
    assert not warnings, [e.msg for e in warnings]


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_djangos_postgis_engine_is_pointed_to_this_one():
    stock = {
        **settings.DATABASES["postgis"],
        "ENGINE": "django.contrib.gis.db.backends.postgis",
    }
    with override_settings(DATABASES={"default": stock}):
        warnings = [e for e in run_checks() if e.id == "oneloop.W001"]
    assert warnings
    assert "'oneloop.contrib.gis.db.backends.postgis'" in warnings[0].hint


async def test_geometries_round_trip_in_a_bridge(place):
    from django.contrib.gis.geos import Point, Polygon

    paris = Point(2.3522, 48.8566, srid=4326)
    square = Polygon.from_bbox((2.0, 48.0, 3.0, 49.0))
    square.srid = 4326

    def save_and_read():
        places(place).create(name="Paris", location=paris, area=square)
        assert isinstance(connections["postgis"].connection, ConnectionFacade)
        return places(place).get(name="Paris")

    saved = await oneloop.run_sync(save_and_read)
    assert saved.location.equals_exact(paris, tolerance=1e-9)
    assert saved.location.srid == 4326
    assert saved.area.equals(square)
    # The a*() methods take the same path.
    again = await places(place).aget(pk=saved.pk)
    assert again.location.equals_exact(paris, tolerance=1e-9)


async def test_the_first_connection_of_a_process_may_be_a_bridged_one(
    place, monkeypatch
):
    """Django looks PostGIS's types up once per alias, on the first
    connection: in an ASGI server that is a connection in a bridge."""
    from django.contrib.gis.db.backends.postgis.base import DatabaseWrapper
    from django.contrib.gis.geos import Point

    for registry in DatabaseWrapper._type_infos.values():
        monkeypatch.delitem(registry, "postgis", raising=False)
    paris = Point(2.3522, 48.8566, srid=4326)
    await places(place).acreate(name="Paris", location=paris)
    assert (await places(place).aget()).location.equals_exact(paris, 1e-9)
    for typename in ("geometry", "geography"):  # raster is an extension of its own
        assert DatabaseWrapper._type_infos[typename]["postgis"] is not None


async def test_spatial_lookups_and_distance_in_a_bridge(place):
    from django.contrib.gis.db.models.functions import Distance
    from django.contrib.gis.geos import Point, Polygon

    await places(place).abulk_create(
        [
            place(name="Paris", location=Point(2.3522, 48.8566, srid=4326)),
            place(name="Lyon", location=Point(4.8357, 45.7640, srid=4326)),
            place(name="Berlin", location=Point(13.4050, 52.5200, srid=4326)),
        ]
    )
    france = Polygon.from_bbox((-5.0, 42.0, 8.0, 51.0))
    france.srid = 4326
    inside = places(place).filter(location__within=france).order_by("name")
    assert [p.name async for p in inside] == ["Lyon", "Paris"]

    paris = Point(2.3522, 48.8566, srid=4326)
    by_distance = places(place).annotate(d=Distance("location", paris)).order_by("d")
    measured = [(p.name, p.d.km) async for p in by_distance]
    assert [name for name, _ in measured] == ["Paris", "Lyon", "Berlin"]
    # Paris-Lyon is about 392 km, Paris-Berlin about 878 km.
    assert measured[1][1] == pytest.approx(392, rel=0.02)
    assert measured[2][1] == pytest.approx(878, rel=0.02)


async def test_twenty_spatial_queries_run_concurrently_on_one_thread(
    place, new_threads
):
    from django.contrib.gis.geos import Point

    await places(place).acreate(name="origin", location=Point(0, 0, srid=4326))
    loop_thread = threading.get_ident()
    all_connected = asyncio.Barrier(20)

    def slow_spatial_query(n):
        assert threading.get_ident() == loop_thread
        with connections["postgis"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid() FROM pg_sleep(0.2)")
            pid = cursor.fetchone()[0]
        # Hold the connection until every task holds one, so each query had
        # a backend of its own.
        oneloop.await_(all_connected.wait())
        near = places(place).filter(
            location__dwithin=(Point(n * 1e-6, 0, srid=4326), 0.001)
        )
        return pid, near.count()

    def twenty_at_once():
        return asyncio.gather(
            *(oneloop.run_sync(slow_spatial_query, n) for n in range(20))
        )

    # The first round opens the pool's twenty connections, one after the
    # other; the second measures the queries alone.
    await twenty_at_once()
    start = time.perf_counter()
    results = await twenty_at_once()
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"20 x 0.2 s took {elapsed:.2f} s"
    assert [count for _, count in results] == [1] * 20
    assert len({pid for pid, _ in results}) == 20
    assert not new_threads(), "a thread was started"
