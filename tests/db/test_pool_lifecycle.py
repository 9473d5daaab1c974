"""A closed connection pool is freed when it is dropped, not later.

Each pool closes itself when its loop shuts down, through an async
generator the loop finalizes. Were that generator to hold the pool, a pool
dropped after ``close_pool()`` would be a reference cycle that the
generator's finalizer brings back, freed only after the loop ran the
generator's ``aclose()``: in the middle of whatever runs next (Django's
``test_select_related_memory_leak`` saw it in ``gc.garbage``).
"""

import asyncio
import gc

import pytest
from django.db import connections

from oneloop import run_sync
from oneloop.db.backends._pools import PoolLifecycle

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_closed_pool_leaves_no_garbage_for_later():
    if connections["default"].vendor == "sqlite":
        pytest.skip("the SQLite ENGINE keeps no connection pool")

    def open_close_and_drop_a_pool():
        # As Django's own pool tests do: a copy of the wrapper with a pool
        # of its own, used once, its pool closed, the copy dropped.
        wrapper = connections["default"].copy(alias="default_pool")
        wrapper.settings_dict["OPTIONS"] = {**wrapper.settings_dict["OPTIONS"]}
        wrapper.settings_dict["OPTIONS"]["pool"] = {"min_size": 1, "max_size": 2}
        wrapper.ensure_connection()
        wrapper.close()
        wrapper.close_pool()

    await run_sync(open_close_and_drop_a_pool)
    gc.disable()
    try:
        gc.collect()  # the dropped pool and whatever it held
        gc.set_debug(gc.DEBUG_SAVEALL)
        for _ in range(5):  # what the loop does next
            await asyncio.sleep(0)
        gc.collect()
        late = [obj for obj in gc.garbage if isinstance(obj, PoolLifecycle)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert late == []
