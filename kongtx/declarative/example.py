"""The commented example file ``kongtx config init`` writes (it parses as is)."""

from __future__ import annotations

__all__ = ["EXAMPLE"]

EXAMPLE = """\
# ------------------------------------------------------------------------------
# This is an example file to get you started with kongtx's declarative
# configuration (Kong's format).
#
# - Use it with `database = off` and `declarative_config = <this file>` in
#   kongtx.conf, or `POST /config` it to a DB-less node's Admin API.
# - `kongtx config parse <file>` checks it; `kongtx config db_import <file>`
#   loads it into the database; `kongtx config db_export <file>` writes one.
# ------------------------------------------------------------------------------

# Metadata fields start with an underscore (_).
# _format_version is mandatory: "3.0" (or "1.1" / "2.1", upgraded on load:
# route paths that are regexes get the "~" prefix).
_format_version: "3.0"

# _transform: false means secrets are already hashed (files from db_export).
_transform: true

# Each entity collection is a list. Entities with one parent can be nested
# under it (routes and plugins under services, credentials under consumers,
# targets under upstreams, snis under certificates); top-level entities refer
# to their parents by name or id. Ids are optional: when missing they are
# derived from the entity's name (or key), so re-applying the file changes
# nothing. Every field is the Admin API's, with the same defaults and checks.

services:
  - name: example-service
    url: http://example.com
    # _comment is allowed on any entity and ignored.
    _comment: the upstream API
    tags:
      - example
    routes:
      - name: example-route
        paths:
          - /example
    plugins:
      - name: key-auth

consumers:
  - username: example-user
    keyauth_credentials:
      - key: my-secret-key
#   basicauth_credentials:
#     - username: example-user
#       password: s3cret
#   acls:
#     - group: admins

# Global plugins apply to every request:
plugins:
  - name: correlation-id
    config:
      header_name: X-Request-ID

# Load balancing over several targets:
# upstreams:
#   - name: example-upstream
#     targets:
#       - target: 10.0.0.1:80
#         weight: 100
#       - target: 10.0.0.2:80

# Certificates with the server names they answer:
# certificates:
#   - cert: |
#       -----BEGIN CERTIFICATE-----
#       ...
#     key: |
#       -----BEGIN PRIVATE KEY-----
#       ...
#     snis:
#       - name: example.com
"""
