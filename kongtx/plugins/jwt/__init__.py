"""The ``jwt`` plugin: JSON Web Tokens signed with a consumer's secret or public key (Kong's jwt)."""
