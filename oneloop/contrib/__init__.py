"""oneloop's counterparts of ``django.contrib`` parts that need their own
database backends."""
