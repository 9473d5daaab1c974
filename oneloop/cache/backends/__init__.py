"""Cache backends: ``oneloop.cache.backends.redis.RedisCache``."""
