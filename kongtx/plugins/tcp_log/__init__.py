"""tcp-log: Kong's tcp-log plugin (see schema.py and handler.py)."""
