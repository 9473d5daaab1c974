from django.contrib import admin
from django.urls import include, path

from tests.asgi.project import api, views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api.router.urls)),
    path("loop-thread/", views.loop_thread),
    path("sync-thread/", views.sync_thread),
    path("finished/", views.finished),
    path("pg-sleep/", views.pg_sleep),
    path("one-query/", views.one_query),
    path("login/", views.login_view),
    path("alogin/", views.alogin_view),
    path("isolation/", views.isolation),
    path("contrib-async/", views.contrib_async),
    path("disconnect/", views.disconnect),
    path("adisconnect/", views.adisconnect),
    path("sleepy/", views.sleepy),
    path("sleepy-offloaded/", views.sleepy_offloaded),
    path("asleepy/", views.asleepy),
    path("fast/", views.fast),
    path("db-and-cache/", views.db_and_cache),
    path("streaming/", views.streaming),
    path("messages/add/", views.add_message),
    path("messages/", views.show_messages),
]
