"""The ``acl`` plugin: allow or deny consumers by their ACL groups (Kong's acl)."""
