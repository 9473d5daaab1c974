from django.urls import path

from tests.channels.project import views

urlpatterns = [
    path("fast/", views.fast),
    path("broadcast/<str:group>/", views.broadcast),
    path("login/", views.login_view),
]
