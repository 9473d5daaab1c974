"""GeoDjango on oneloop's database ENGINEs."""
