"""The ``rate-limiting`` plugin (Kong's), counting exactly on every policy."""
