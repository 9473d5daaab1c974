"""The admin: Django's own sync views, run on the loop by oneloop."""

from django.contrib import admin

from shop.models import Author, Book, Publisher, Review, SentEmail


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "publisher", "isbn", "year"]
    list_select_related = ["author", "publisher"]
    search_fields = ["title", "author__name", "isbn"]
    list_filter = ["publisher"]
    inlines = [ReviewInline]
    raw_id_fields = ["author", "suggested_by"]


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin):
    list_display = ["name", "isbn_prefix"]


@admin.register(SentEmail)
class SentEmailAdmin(admin.ModelAdmin):
    list_display = ["subject", "to", "sent_at"]
