"""loggly: Kong's loggly plugin (see schema.py and handler.py)."""
