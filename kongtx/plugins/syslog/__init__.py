"""syslog: Kong's syslog plugin (see schema.py and handler.py)."""
