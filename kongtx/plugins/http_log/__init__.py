"""http-log: Kong's http-log plugin (see schema.py and handler.py)."""
