"""The ``oauth2`` plugin: an OAuth 2.0 authorization server on each route that uses it (Kong's oauth2)."""
