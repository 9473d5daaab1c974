from django.urls import path

from tests.testing import views

urlpatterns = [
    path("authors/", views.authors),
    path("authors-async/", views.authors_async),
    path("fan-out/", views.fan_out),
    path("create/", views.create_author),
    path("setting/", views.setting),
    path("render-fails/", views.render_fails),
    path("where/", views.where),
]
