from django.contrib import admin

from tests.testapp.models import Author, Book


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ["title", "n", "author"]
    list_filter = ["author"]
    search_fields = ["title"]
