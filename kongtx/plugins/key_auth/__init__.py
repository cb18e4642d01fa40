"""The ``key-auth`` plugin: API keys in a header, the query string or the body (Kong's key-auth)."""
