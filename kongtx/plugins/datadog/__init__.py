"""datadog: Kong's datadog plugin (see schema.py and handler.py)."""
