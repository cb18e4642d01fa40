"""The ``cors`` plugin: answers CORS preflights and adds CORS headers to responses."""
