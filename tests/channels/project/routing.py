from django.urls import path

from tests.channels.project import consumers

websocket_urlpatterns = [
    path("ws/query/", consumers.QueryConsumer.as_asgi()),
    path("ws/user/", consumers.UserConsumer.as_asgi()),
    path("ws/transaction/", consumers.TransactionConsumer.as_asgi()),
    path("ws/failing/", consumers.FailingConsumer.as_asgi()),
    path("ws/group/<str:group>/", consumers.GroupConsumer.as_asgi()),
    path("ws/async/", consumers.AsyncQueryConsumer.as_asgi()),
    path("ws/async-database/", consumers.AsyncDatabaseConsumer.as_asgi()),
]
