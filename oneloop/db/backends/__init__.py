"""Django database ENGINEs whose IO goes through the bridge."""
