"""Django's own cache test cases for Redis behaviour, for every API.

The cases follow ``BaseCacheTests`` / ``RedisCacheTests`` of Django's
``tests/cache/tests.py``. Each runs three times (the ``run`` fixture): the sync
API with no loop (Django's sync client), the sync API inside a bridge
greenlet, and the async API. Expiry is checked with one real wait per mode
and otherwise through Redis's own TTLs, so the suite stays fast.
"""

from __future__ import annotations

import pickle
import re
import time
import zlib

import pytest
from django.core.cache import CacheKeyWarning
from redis.exceptions import ResponseError

from .conftest import Api

pytestmark = pytest.mark.redis


def f() -> int:
    return 42


class C:
    def m(self) -> int:
        return 24


class Unpicklable:
    def __getstate__(self):
        raise pickle.PickleError()


THIRTY_DAYS_AND_ONE_SECOND = 60 * 60 * 24 * 30 + 1


def test_simple_and_none(run):
    def body(c: Api):
        c.set("key", "value")
        assert c.get("key") == "value"
        c.set("key_default_none", None)
        assert c.get("key_default_none", default="default") is None
        assert c.get("does_not_exist") is None
        assert c.get("does_not_exist", "bang!") == "bang!"

    run(body)


def test_add(run):
    def body(c: Api):
        assert c.add("addkey1", "value") is True
        assert c.add("addkey1", "newvalue") is False
        assert c.get("addkey1") == "value"

    run(body)


def test_prefix(run):
    def body(c: Api):
        c.set("somekey", "value")
        assert c.of("prefix").has_key("somekey") is False
        c.of("prefix").set("somekey", "value2")
        assert c.get("somekey") == "value"
        assert c.of("prefix").get("somekey") == "value2"

    run(body)


def test_get_many(run):
    def body(c: Api):
        c.set_many({"a": "a", "b": "b", "c": "c", "d": "d"})
        assert c.get_many(["a", "c", "d"]) == {"a": "a", "c": "c", "d": "d"}
        assert c.get_many(["a", "b", "e"]) == {"a": "a", "b": "b"}
        assert c.get_many(iter(["a", "b", "e"])) == {"a": "a", "b": "b"}
        c.set_many({"x": None, "y": 1})
        assert c.get_many(["x", "y"]) == {"x": None, "y": 1}

    run(body)


def test_delete(run):
    def body(c: Api):
        c.set_many({"key1": "spam", "key2": "eggs"})
        assert c.get("key1") == "spam"
        assert c.delete("key1") is True
        assert c.get("key1") is None
        assert c.get("key2") == "eggs"
        assert c.delete("nonexistent_key") is False

    run(body)


def test_has_key(run):
    def body(c: Api):
        c.set("hello1", "goodbye1")
        assert c.has_key("hello1") is True
        assert c.has_key("goodbye1") is False
        c.set("no_expiry", "here", None)
        assert c.has_key("no_expiry") is True
        c.set("null", None)
        assert c.has_key("null") is True
        if c.mode != "async":  # ``in`` has no async form
            assert "hello1" in c.cache
            assert "goodbye1" not in c.cache

    run(body)


def test_incr_decr(run):
    def body(c: Api):
        c.set("answer", 41)
        assert c.incr("answer") == 42
        assert c.get("answer") == 42
        assert c.incr("answer", 10) == 52
        assert c.incr("answer", -10) == 42
        assert c.decr("answer") == 41
        assert c.decr("answer", 10) == 31
        assert c.decr("answer", -11) == 42
        assert c.get("answer") == 42
        with pytest.raises(ValueError, match="not found"):
            c.incr("does_not_exist")
        with pytest.raises(ValueError, match="not found"):
            c.incr("does_not_exist", -1)
        with pytest.raises(ValueError, match="not found"):
            c.decr("does_not_exist")
        c.set("null", None)
        with pytest.raises(ResponseError):
            c.incr("null")
        with pytest.raises(ResponseError):
            c.decr("null")

    run(body)


def test_close(run):
    def body(c: Api):
        c.set("k", 1)
        c.close()
        # Closing is a no-op, as with Django's RedisCache: the pool stays usable.
        assert c.get("k") == 1

    run(body)


def test_data_types_and_pickled_objects(run):
    def body(c: Api):
        values = {
            "string": "this is a string",
            "int": 42,
            "bool": True,
            "float": 1.5,
            "list": [1, 2, 3, 4],
            "tuple": (1, 2, 3, 4),
            "dict": {"A": 1, "B": 2},
            "set": {1, 2},
            "function": f,
            "class": C,
            "big_int": 2**70,
            "none": None,
        }
        for key, value in values.items():
            c.set(key, value)
            assert c.get(key, "missing") == value, key
        instance = c.get("class")()
        assert instance.m() == 24

    run(body)


def test_unicode_keys_and_values(run):
    def body(c: Api):
        stuff = {
            "ascii": "ascii_value",
            "unicode_ascii": "Iñtërnâtiônàlizætiøn1",
            "Iñtërnâtiônàlizætiøn": "Iñtërnâtiônàlizætiøn2",
            "ascii2": {"x": 1},
        }
        for key, value in stuff.items():
            c.set(key, value)
            assert c.get(key) == value
        for key, value in stuff.items():
            assert c.delete(key) is True
            assert c.add(key, value) is True
            assert c.get(key) == value
        for key in stuff:
            assert c.delete(key) is True
        c.set_many(stuff)
        assert c.get_many(list(stuff)) == stuff

    run(body)


def test_binary_string(run):
    def body(c: Api):
        value = "value_to_be_compressed"
        compressed = zlib.compress(value.encode())
        c.set("binary1", compressed)
        assert zlib.decompress(c.get("binary1")).decode() == value
        assert c.add("binary1-add", compressed) is True
        assert c.get("binary1-add") == compressed
        c.set_many({"binary1-set_many": compressed})
        assert c.get("binary1-set_many") == compressed

    run(body)


def test_set_many_and_delete_many(run):
    def body(c: Api):
        assert c.set_many({"key1": "spam", "key2": "eggs", "key3": "ham"}) == []
        assert c.set_many({}) == []
        assert c.get("key1") == "spam"
        assert c.delete_many(["key1", "key2"]) is None
        assert c.get("key1") is None
        assert c.get("key2") is None
        assert c.get("key3") == "ham"
        assert c.delete_many([]) is None

    run(body)


def test_clear(run):
    def body(c: Api):
        other = c.of("clear")
        other.set_many({"key1": "spam", "key2": "eggs"})
        assert other.clear() is True
        assert other.get("key1") is None
        assert other.get("key2") is None

    run(body)


def test_expiration_waits(run):
    """The one real wait per mode: keys set for 1 s are gone after it."""

    def body(c: Api):
        c.set("expire1", "very quickly", 1)
        c.set("expire2", "very quickly", 1)
        c.set("expire3", "very quickly", 1)
        c.set_many({"many1": "spam", "many2": "eggs"}, 1)
        c.set("kept", "touched", timeout=1)
        assert c.touch("kept", timeout=10) is True
        c.set("forever", "touched", timeout=1)
        assert c.touch("forever", timeout=None) is True
        time.sleep(1.3)
        assert c.get("expire1") is None
        assert c.add("expire2", "newvalue") is True
        assert c.get("expire2") == "newvalue"
        assert c.has_key("expire3") is False
        assert c.get_many(["many1", "many2"]) == {}
        assert c.get("kept") == "touched"
        assert c.get("forever") == "touched"

    run(body)


def test_timeouts_as_ttls(run, raw_redis):
    """Timeouts reach Redis as Django's client sends them (checked via TTL):
    default 300 s, long timeouts relative, None = no expiry, 0 = not cached,
    floats truncated, negative = not cached."""

    def ttl(c: Api, key: str) -> int:
        return raw_redis.ttl(c.cache.make_key(key))

    def body(c: Api):
        c.set("default", "v")
        assert 290 < ttl(c, "default") <= 300
        c.set("key1", "eggs", THIRTY_DAYS_AND_ONE_SECOND)
        assert c.get("key1") == "eggs"
        assert THIRTY_DAYS_AND_ONE_SECOND - 10 < ttl(c, "key1")
        assert c.add("key2", "ham", THIRTY_DAYS_AND_ONE_SECOND) is True
        c.set_many({"key3": "s", "key4": "l"}, THIRTY_DAYS_AND_ONE_SECOND)
        assert c.get_many(["key3", "key4"]) == {"key3": "s", "key4": "l"}
        assert ttl(c, "key4") > THIRTY_DAYS_AND_ONE_SECOND - 10

        c.set("forever", "eggs", None)
        assert ttl(c, "forever") == -1
        assert c.add("forever2", "ham", None) is True
        assert ttl(c, "forever2") == -1
        assert c.add("forever", "new eggs", None) is False
        assert c.get("forever") == "eggs"
        c.set_many({"forever3": 1, "forever4": 2}, None)
        assert ttl(c, "forever4") == -1

        c.set("zero", "eggs", 0)
        assert c.get("zero") is None
        assert c.add("zero2", "ham", 0) is True
        assert c.get("zero2") is None
        c.set_many({"zero3": "sausage", "zero4": "lobster bisque"}, 0)
        assert c.get_many(["zero3", "zero4"]) == {}
        c.set("zero5", "belgian fries", timeout=5)
        assert c.touch("zero5", timeout=0) is True
        assert c.get("zero5") is None
        c.set("negative", "x", -5)
        assert c.get("negative") is None

        c.set("float", "spam", 100.2)
        assert c.get("float") == "spam"
        assert 95 < ttl(c, "float") <= 100

        c.set("touched", "x", timeout=1)
        assert c.touch("touched", timeout=40) is True
        assert 35 < ttl(c, "touched") <= 40
        assert c.touch("touched") is True  # back to the default timeout
        assert 290 < ttl(c, "touched") <= 300
        assert c.touch("touched", timeout=None) is True
        assert ttl(c, "touched") == -1
        assert c.touch("nonexistent") is False

    run(body)


def _invalid_key_cases(key: str) -> list[tuple[str, tuple]]:
    # Django's order: add() creates the key that incr()/decr()/touch() use.
    return [
        ("add", (key, 1)),
        ("get", (key,)),
        ("set", (key, 1)),
        ("incr", (key,)),
        ("decr", (key,)),
        ("touch", (key,)),
        ("delete", (key,)),
        ("get_many", ([key, "b"],)),
        ("set_many", ({key: 1, "b": 2},)),
        ("delete_many", ([key, "b"],)),
    ]


CHARACTERS_MESSAGE = (
    "Cache key contains characters that will cause errors if used with memcached: %r"
)
LENGTH_MESSAGE = (
    "Cache key will cause errors if used with memcached: %r (longer than 250)"
)


@pytest.mark.parametrize("kind", ["characters", "length", "length-with-version"])
def test_invalid_key_warnings(run, kind):
    """Keys memcached would refuse warn with CacheKeyWarning and still work.

    As in Django's test, a custom key function is installed (the default one
    makes keys that never warn); it keeps this run's prefix so the keys are
    cleaned up with the others.
    """

    def body(c: Api):
        prefix = c.cache.key_prefix
        if kind == "characters":
            key = "key with spaces and 清"
            key_func = lambda k, *args: prefix + k  # noqa: E731
            expected = CHARACTERS_MESSAGE % (prefix + key)
        elif kind == "length":
            key = ("a" * 250) + "清"
            key_func = lambda k, *args: prefix + k  # noqa: E731
            expected = LENGTH_MESSAGE % (prefix + key)
        else:
            key = "a" * (249 - len(prefix))
            key_func = lambda k, *args: prefix + k + ":1"  # noqa: E731
            expected = LENGTH_MESSAGE % (prefix + key + ":1")
        old = c.cache.key_func
        c.cache.key_func = key_func
        try:
            for operation, args in _invalid_key_cases(key):
                with pytest.warns(CacheKeyWarning) as record:
                    getattr(c, operation)(*args)
                assert {str(w.message) for w in record} == {expected}, operation
            assert c.get("b") is None
        finally:
            c.cache.key_func = old

    run(body)


def test_versioning_get_set_add(run):
    def body(c: Api):
        v2 = c.of("v2")
        c.set("answer1", 42)
        assert c.get("answer1") == 42
        assert c.get("answer1", version=1) == 42
        assert c.get("answer1", version=2) is None
        assert v2.get("answer1") is None
        assert v2.get("answer1", version=1) == 42

        c.set("answer2", 42, version=2)
        assert c.get("answer2") is None
        assert v2.get("answer2") == 42

        v2.set("answer3", 42)
        assert c.get("answer3") is None
        assert c.get("answer3", version=2) == 42

        v2.set("answer4", 42, version=1)
        assert c.get("answer4") == 42
        assert v2.get("answer4") is None

        assert c.add("add1", 42, version=2) is True
        assert c.add("add1", 37, version=2) is False
        assert c.add("add1", 37, version=1) is True
        assert c.get("add1", version=1) == 37
        assert c.get("add1", version=2) == 42
        assert v2.add("add2", 42) is True
        assert c.get("add2", version=2) == 42
        assert v2.add("add2", 37, version=1) is True
        assert c.get("add2") == 37

    run(body)


def test_versioning_has_key_delete(run):
    def body(c: Api):
        v2 = c.of("v2")
        c.set("answer1", 42)
        assert c.has_key("answer1", version=1) is True
        assert c.has_key("answer1", version=2) is False
        assert v2.has_key("answer1") is False
        assert v2.has_key("answer1", version=1) is True

        c.set("answer2", 37, version=1)
        c.set("answer2", 42, version=2)
        assert c.delete("answer2") is True
        assert c.get("answer2", version=1) is None
        assert c.get("answer2", version=2) == 42
        c.set("answer3", 37, version=1)
        assert v2.delete("answer3", version=1) is True
        assert c.get("answer3") is None

    run(body)


def test_versioning_incr_decr_and_many(run):
    def body(c: Api):
        v2 = c.of("v2")
        c.set("answer1", 37, version=1)
        c.set("answer1", 42, version=2)
        assert c.incr("answer1") == 38
        assert c.get("answer1", version=2) == 42
        assert c.decr("answer1", version=2) == 41
        assert v2.incr("answer1") == 42
        assert v2.decr("answer1", version=1) == 37

        c.set_many({"ford1": 37, "arthur1": 42})
        assert c.get_many(["ford1", "arthur1"]) == {"ford1": 37, "arthur1": 42}
        assert c.get_many(["ford1", "arthur1"], version=2) == {}
        assert v2.get_many(["ford1", "arthur1"]) == {}
        assert v2.get_many(["ford1", "arthur1"], version=1) == {
            "ford1": 37,
            "arthur1": 42,
        }
        v2.set_many({"ford2": 37, "arthur2": 42})
        assert c.get_many(["ford2", "arthur2"], version=2) == {
            "ford2": 37,
            "arthur2": 42,
        }
        c.delete_many(["ford2", "arthur2"], version=2)
        assert v2.get_many(["ford2", "arthur2"]) == {}

    run(body)


def test_incr_decr_version(run):
    def body(c: Api):
        v2 = c.of("v2")
        c.set("answer", 42, version=2)
        assert c.incr_version("answer", version=2) == 3
        assert c.get("answer", version=2) is None
        assert c.get("answer", version=3) == 42
        assert c.decr_version("answer", version=3) == 2
        assert c.get("answer", version=2) == 42

        v2.set("answer2", 42)
        assert v2.incr_version("answer2") == 3
        assert v2.get("answer2") is None
        assert v2.get("answer2", version=3) == 42
        v2.set("answer3", 42)
        assert v2.decr_version("answer3") == 1
        assert v2.get("answer3", version=1) == 42

        with pytest.raises(ValueError, match="not found"):
            c.incr_version("does_not_exist")
        with pytest.raises(ValueError, match="not found"):
            c.decr_version("does_not_exist", version=2)
        c.set("null", None)
        assert c.incr_version("null") == 2
        assert c.get("null", "default", version=2) is None

    run(body)


def test_custom_key_func(run):
    def body(c: Api):
        c.set("answer1", 42)
        assert c.of("custom_key").get("answer1") is None
        assert c.of("custom_key2").get("answer1") is None
        c.of("custom_key").set("answer2", 42)
        assert c.get("answer2") is None
        assert c.of("custom_key").get("answer2") == 42
        assert c.of("custom_key2").get("answer2") == 42

    run(body)


def test_unpicklable_values_raise(run):
    def body(c: Api):
        with pytest.raises(pickle.PickleError):
            c.add("unpicklable", Unpicklable())
        with pytest.raises(pickle.PickleError):
            c.set("unpicklable", Unpicklable())
        assert c.get("unpicklable") is None

    run(body)


def test_get_or_set(run):
    def body(c: Api):
        assert c.get("projector") is None
        assert c.get_or_set("projector", 42) == 42
        assert c.get("projector") == 42
        assert c.get_or_set("null", None) is None
        assert c.get("null", "default") is None

        calls = []

        def my_callable():
            calls.append(1)
            return "value"

        assert c.get_or_set("mykey", my_callable) == "value"
        assert c.get_or_set("mykey", my_callable) == "value"
        assert calls == [1]
        assert c.get_or_set("null2", lambda: None) is None
        assert c.get("null2", "default") is None

        assert c.get_or_set("brian", 1979, version=2) == 1979
        assert c.get("brian", version=1) is None
        assert c.get_or_set("brian", 42, version=1) == 42
        assert c.get_or_set("brian", 1979, version=2) == 1979
        assert c.get("brian", version=3) is None

    run(body)


def test_get_or_set_requires_default(run):
    def body(c: Api):
        name = "aget_or_set" if c.mode == "async" else "get_or_set"
        msg = f"{name}() missing 1 required positional argument: 'default'"
        with pytest.raises(TypeError, match=re.escape(msg)):
            c.get_or_set("brian")

    run(body)


def test_backend_timeout_and_client_classes(run):
    """The pieces Django's RedisCacheTests inspect are Django's own."""
    from django.core.cache.backends.redis import RedisCacheClient, RedisSerializer

    def body(c: Api):
        cache = c.cache
        assert cache.get_backend_timeout(10) == 10
        assert cache.get_backend_timeout(-5) == 0
        assert cache.get_backend_timeout(None) is None
        assert isinstance(cache._cache, RedisCacheClient)
        assert isinstance(cache._cache._serializer, RedisSerializer)
        assert cache._cache._serializer.dumps(123) == 123
        assert isinstance(cache._cache._serializer.dumps(True), bytes)
        assert cache._cache._get_connection_pool_index(write=True) == 0

    run(body)
