"""statsd: Kong's statsd plugin (see schema.py and handler.py)."""
