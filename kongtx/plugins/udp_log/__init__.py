"""udp-log: Kong's udp-log plugin (see schema.py and handler.py)."""
