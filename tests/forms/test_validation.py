"""Async validation without a database: async validators, async clean
methods, formsets; the same errors as Django's own ``is_valid()``."""

from __future__ import annotations

import asyncio
import time

import pytest
from django import forms
from django.core.exceptions import ValidationError

import oneloop
import oneloop.forms
from oneloop.forms import ais_valid, is_async_callable
from tests.testapp_tpl import run_on_new_loop
from tests.testapp_tpl.forms import SignupForm, TitleFormSet

GOOD = {"username": "Ann", "lucky": "4", "password": "pw", "again": "pw"}

SIGNUP_CASES = [
    GOOD,
    {**GOOD, "username": "admin"},
    {**GOOD, "username": "ROOT"},
    {**GOOD, "username": "two words"},
    {**GOOD, "username": "averyveryverylongname"},
    {**GOOD, "username": ""},
    {**GOOD, "lucky": "3"},
    {**GOOD, "lucky": "-2"},
    {**GOOD, "lucky": "x"},
    {**GOOD, "again": "other"},
    {**GOOD, "username": "admin", "lucky": "5", "again": "nope"},
    {},
]


def sync_errors(form_class, data):
    """What Django's own is_valid() gives, in plain sync code (no loop)."""
    form = form_class(data)
    valid = form.is_valid()
    return valid, form.errors.get_json_data(), getattr(form, "cleaned_data", None)


async def async_errors(form_class, data):
    """The same through ais_valid() on a running loop."""
    form = form_class(data)
    valid = await ais_valid(form)
    return valid, form.errors.get_json_data(), getattr(form, "cleaned_data", None)


@pytest.mark.parametrize("data", SIGNUP_CASES)
def test_async_validators_give_the_same_errors_as_is_valid(data):
    expected = sync_errors(SignupForm, data)
    assert run_on_new_loop(async_errors(SignupForm, data)) == expected


async def test_form_method_after_install():
    form = SignupForm({**GOOD, "username": "root"})
    assert await form.ais_valid() is False
    assert form.errors["username"] == ["root is reserved."]
    assert form.errors.as_data()["username"][0].code == "reserved"


async def test_async_clean_methods_return_values():
    form = SignupForm({**GOOD, "username": "MiXeD"})
    assert await ais_valid(form)
    assert form.cleaned_data["username"] == "mixed"  # from async clean_username
    assert "clean_username" not in form.__dict__  # the shadow was removed


async def test_validations_run_concurrently():
    class Slow(forms.Form):
        name = forms.CharField(validators=[slow_validator])

    started = time.perf_counter()
    results = await asyncio.gather(
        *(ais_valid(Slow({"name": str(i)})) for i in range(20))
    )
    assert results == [True] * 20
    assert time.perf_counter() - started < 1.0  # 20 x 0.2 s, concurrently


async def slow_validator(value):
    await asyncio.sleep(0.2)


def test_is_valid_in_sync_code_awaits_on_a_private_loop():
    form = SignupForm({**GOOD, "username": "admin"})
    assert not form.is_valid()
    assert form.errors.as_data()["username"][0].code == "reserved"


async def test_is_valid_on_the_loop_outside_a_bridge_says_what_to_do():
    form = SignupForm(GOOD)
    with pytest.raises(oneloop.MissingBridge, match="run_sync"):
        form.is_valid()


def formset_outcome(formset):
    codes = [e.code for e in formset.non_form_errors().as_data()]
    for form in formset:
        codes += [e.code for errors in form.errors.as_data().values() for e in errors]
    return formset.errors, formset.non_form_errors(), codes


@pytest.mark.parametrize(
    ("titles", "code"),
    [
        (["a", "b"], None),
        (["a", "a"], "duplicate"),
        (["admin", "b"], "reserved"),
        ([], None),
    ],
)
def test_formsets(titles, code):
    data = {
        "form-TOTAL_FORMS": str(len(titles)),
        "form-INITIAL_FORMS": "0",
        **{f"form-{i}-title": title for i, title in enumerate(titles)},
    }
    formset = TitleFormSet(data)
    assert formset.is_valid() is (code is None)
    expected = formset_outcome(formset)
    assert expected[2] == ([] if code is None else [code])

    async def check():
        formset = TitleFormSet(data)
        assert await formset.ais_valid() is (code is None)
        return formset_outcome(formset)

    assert run_on_new_loop(check()) == expected


def test_is_async_callable():
    async def coro_fn(value): ...

    def plain(value): ...

    class AsyncCall:
        async def __call__(self, value): ...

    class SyncCall:
        def __call__(self, value): ...

    class Methods:
        async def check(self, value): ...

        def plain(self, value): ...

    import functools

    assert is_async_callable(coro_fn)
    assert is_async_callable(functools.partial(coro_fn))
    assert is_async_callable(AsyncCall())
    assert is_async_callable(Methods().check)
    assert not is_async_callable(plain)
    assert not is_async_callable(SyncCall())
    assert not is_async_callable(Methods().plain)
    assert not is_async_callable(len)


def test_uninstall_removes_everything():
    oneloop.uninstall()
    try:
        assert not hasattr(forms.Form, "ais_valid")
        # Django's own run_validators is back.
        field = forms.CharField(validators=[lambda value: None])
        assert field.clean("x") == "x"
        assert "oneloop" not in (forms.Field.run_validators.__doc__ or "")
    finally:
        oneloop.install()
    oneloop.install()  # idempotent
    assert forms.Field.run_validators._oneloop_original.__name__ == "run_validators"
    assert not hasattr(
        forms.Field.run_validators._oneloop_original, "_oneloop_original"
    )


async def test_a_sync_validator_error_still_maps_messages():
    field = forms.IntegerField(
        validators=[slow_validator, min_five], error_messages={"small": "Too small!"}
    )
    with pytest.raises(ValidationError) as caught:
        await oneloop.run_sync(field.clean, "3")
    assert caught.value.messages == ["Too small!"]


def min_five(value):
    if value < 5:
        raise ValidationError("below five", code="small")
