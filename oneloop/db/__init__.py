"""oneloop's database support: per-task connections on async-native drivers."""
