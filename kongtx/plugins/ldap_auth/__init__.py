"""The ``ldap-auth`` plugin: HTTP credentials checked by an LDAP simple bind (Kong's ldap-auth)."""
