"""Email backends built on async-native SMTP clients."""
