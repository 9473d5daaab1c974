"""WebSocket URLs of the shop."""

from django.urls import path

from shop.consumers import BookPageConsumer

websocket_urlpatterns = [
    path("ws/books/<int:pk>/", BookPageConsumer.as_asgi()),
]
