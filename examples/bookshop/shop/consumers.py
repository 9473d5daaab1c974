"""The live book page: every open copy of a book's page shows a new review
the moment it is posted.

A plain sync ``JsonWebsocketConsumer``, as the Channels tutorial writes it:
each socket joins its book's group; ``announce()`` (called by the sync views
that add a review) sends the review to that group through the channel
layer. Under oneloop all of it runs on the event loop, with no thread.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.generic.websocket import JsonWebsocketConsumer
from channels.layers import get_channel_layer

from shop.models import Review


def book_group(book_id: int) -> str:
    return f"book-{book_id}"


def announce(review: Review) -> None:
    """Send ``review`` to every open page of its book."""
    async_to_sync(get_channel_layer().group_send)(
        book_group(review.book_id),
        {
            "type": "review.added",
            "review": {
                "id": review.id,
                "reviewer": review.reviewer,
                "rating": review.rating,
                "text": review.text,
            },
        },
    )


class BookPageConsumer(JsonWebsocketConsumer):
    """One open book page."""

    def connect(self) -> None:
        self.group = book_group(self.scope["url_route"]["kwargs"]["pk"])
        async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
        self.accept()

    def disconnect(self, code: int) -> None:
        async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)

    def review_added(self, event: dict) -> None:
        self.send_json(event["review"])
