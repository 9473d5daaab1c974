"""URLs: ``/sync/pN/`` and ``/async/pN/`` for each scenario, ``/health/``."""

from django.urls import path

from bench.benchapp import views

urlpatterns = [
    path("health/", views.health),
    path("sync/p2/", views.p2_sync),
    path("async/p2/", views.p2_async),
    path("sync/p4/", views.p4_sync),
    path("async/p4/", views.p4_async),
    path("sync/p5/", views.p5_sync),
    path("async/p5/", views.p5_async),
    path("sync/p6/", views.p6_sync),
    path("async/p6/", views.p6_async),
]
