from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100, unique=True)

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50)


class Book(models.Model):
    title = models.CharField(max_length=200)
    n = models.IntegerField(db_index=True, default=0)
    author = models.ForeignKey(
        Author, on_delete=models.CASCADE, related_name="books", null=True
    )
    tags = models.ManyToManyField(Tag, related_name="books")
    published = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.title


class Counter(models.Model):
    name = models.CharField(max_length=20, unique=True)
    value = models.IntegerField(default=0)
