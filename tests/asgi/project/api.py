"""A Django REST framework API over the test app's models."""

from rest_framework import routers, serializers, viewsets

from tests.testapp.models import Book


class BookSerializer(serializers.ModelSerializer):
    class Meta:
        model = Book
        fields = ["id", "title", "n", "author"]


class BookViewSet(viewsets.ModelViewSet):
    queryset = Book.objects.order_by("id")
    serializer_class = BookSerializer


router = routers.DefaultRouter()
router.register("books", BookViewSet)
