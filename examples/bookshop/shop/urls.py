"""URLs of the shop."""

from django.urls import path

from shop import views

urlpatterns = [
    path("", views.home, name="home"),
    path("books/", views.book_list, name="book-list"),
    path("books/<int:pk>/", views.book_detail, name="book-detail"),
    path("books/<int:pk>/reviews/", views.add_review, name="book-review"),
    path("books/suggest/", views.suggest_book, name="book-suggest"),
    path("outbox/", views.outbox, name="outbox"),
    path("api/books/", views.api_books, name="api-books"),
    path("api/books/<int:pk>/reviews/", views.api_add_review, name="api-review"),
    path("api/stats/", views.api_stats, name="api-stats"),
]
