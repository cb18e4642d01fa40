"""The ``hmac-auth`` plugin: requests signed with HMAC over chosen headers (Kong's hmac-auth)."""
