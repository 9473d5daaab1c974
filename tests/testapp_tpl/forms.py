"""Forms whose validation waits on IO: async validators and clean methods,
model uniqueness, model choices, a formset."""

from __future__ import annotations

import asyncio

from django import forms
from django.core.exceptions import ValidationError

from tests.testapp.models import Author, Book

RESERVED = {"admin", "root"}


async def not_reserved(value: str) -> None:
    """An async validator that waits before answering, as a remote check would."""
    await asyncio.sleep(0.001)
    if value.lower() in RESERVED:
        raise ValidationError(
            "%(value)s is reserved.", code="reserved", params={"value": value}
        )


async def not_an_author(value: str) -> None:
    """An async validator that queries the database."""
    if await Author.objects.filter(name__iexact=value).aexists():
        raise ValidationError("%(value)s is an author's name.", code="author")


class EvenNumber:
    """A validator object whose ``__call__`` is async."""

    async def __call__(self, value: int) -> None:
        await asyncio.sleep(0)
        if value % 2:
            raise ValidationError("Give an even number.", code="odd")


class SignupForm(forms.Form):
    """Only async validation, no database."""

    username = forms.CharField(max_length=12, validators=[not_reserved])
    lucky = forms.IntegerField(min_value=0, validators=[EvenNumber()])
    password = forms.CharField()
    again = forms.CharField()

    async def clean_username(self) -> str:
        await asyncio.sleep(0)
        username = self.cleaned_data["username"]
        if " " in username:
            raise ValidationError("No spaces, please.", code="spaces")
        return username.lower()

    async def clean(self) -> dict:
        await asyncio.sleep(0)
        data = super().clean()
        if data.get("password") != data.get("again"):
            raise ValidationError("The passwords differ.", code="mismatch")
        return data


class AuthorForm(forms.ModelForm):
    """A ModelForm with a unique field, and an async validator that queries."""

    pen_name = forms.CharField(required=False, validators=[not_an_author])

    class Meta:
        model = Author
        fields = ["name"]


class BookForm(forms.ModelForm):
    """ModelChoiceField and ModelMultipleChoiceField look their choices up."""

    class Meta:
        model = Book
        fields = ["title", "n", "author", "tags"]


class TitleForm(forms.Form):
    title = forms.CharField(max_length=30, validators=[not_reserved])


class BaseTitleFormSet(forms.BaseFormSet):
    async def clean(self) -> None:
        await asyncio.sleep(0)
        if any(self.errors):
            return
        titles = [form.cleaned_data.get("title") for form in self.forms]
        if len(titles) != len(set(titles)):
            raise ValidationError("Titles must differ.", code="duplicate")


TitleFormSet = forms.formset_factory(TitleForm, formset=BaseTitleFormSet, extra=0)
