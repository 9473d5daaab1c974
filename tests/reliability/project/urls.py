from django.urls import path

from tests.reliability.project import views

urlpatterns = [
    path("health/", views.health),
    path("write/", views.write),
    path("hold/", views.hold),
    path("increment/", views.increment),
    path("lookup/", views.lookup),
    path("form/", views.form),
    path("stats/", views.stats),
]
