"""file-log: Kong's file-log plugin (see schema.py and handler.py)."""
