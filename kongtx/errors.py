"""The one error hierarchy of kongtx, shaped like Kong's ``kong/db/errors.lua``.

Every error the DAO or the schema layer raises is a :class:`KongtxError`; the
Admin API renders it with :meth:`KongtxError.to_body` and
:attr:`KongtxError.http_status`. The errors that end a proxied request —
:class:`ProxyExit` (raised by plugins) and :class:`UpstreamFailure` (raised
while forwarding, also by plugins' body wrappers) — live here too, so plugins
import them from one place.
"""

from __future__ import annotations

from typing import Any


class KongtxError(Exception):
    """Base error: carries Kong's ``code``, ``name``, ``message`` and ``fields``."""

    code: int = 0
    name: str = "error"
    http_status: int = 500

    def __init__(self, message: str, fields: Any = None, *, options: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        self.options = options

    def to_body(self) -> dict[str, Any]:
        """Return the JSON body Kong sends for this error."""
        body: dict[str, Any] = {"code": self.code, "name": self.name, "message": self.message}
        if self.options is not None:
            body["options"] = self.options
        elif self.fields is not None:
            body["fields"] = self.fields
        return body


class InvalidPrimaryKey(KongtxError):
    code, name, http_status = 1, "invalid primary key", 400


class SchemaViolation(KongtxError):
    code, name, http_status = 2, "schema violation", 400


class PrimaryKeyViolation(KongtxError):
    code, name, http_status = 3, "primary key violation", 409


class ForeignKeyViolation(KongtxError):
    code, name, http_status = 4, "foreign key violation", 400


class UniqueViolation(KongtxError):
    code, name, http_status = 5, "unique constraint violation", 409


class NotFound(KongtxError):
    code, name, http_status = 6, "not found", 404


class InvalidOffset(KongtxError):
    code, name, http_status = 7, "invalid offset", 400


class DatabaseError(KongtxError):
    """An unexpected database failure; the client only sees Kong's generic message."""

    code, name, http_status = 8, "database error", 500

    def to_body(self) -> dict[str, Any]:
        return {"message": "An unexpected error occurred"}


class InvalidSize(KongtxError):
    code, name, http_status = 9, "invalid size", 400


class InvalidUnique(KongtxError):
    code, name, http_status = 10, "invalid unique", 400


class InvalidOptions(KongtxError):
    code, name, http_status = 11, "invalid options", 400


class OperationUnsupported(KongtxError):
    code, name, http_status = 12, "operation unsupported", 405


class ForeignKeysUnresolved(KongtxError):
    code, name, http_status = 13, "foreign keys unresolved", 400


class InvalidDeclarativeConfig(KongtxError):
    code, name, http_status = 14, "invalid declarative configuration", 400


class ReferencedByOthers(KongtxError):
    code, name, http_status = 19, "referenced by others", 400


class DatabaseUnavailable(KongtxError):
    """The datastore cannot be reached (kongtx addition): the Admin API answers 503."""

    code, name, http_status = 8, "database unavailable", 503

    def to_body(self) -> dict[str, Any]:
        return {"message": self.message}


class ConfigError(Exception):
    """A bad kongtx.conf / KONGTX_* / command-line setting; the message names it."""


class ProxyExit(Exception):
    """Raised by a plugin hook (or the core) to end a proxied request with a response.

    :param status: HTTP status to send.
    :param message: a message rendered as Kong's negotiated error body
        (``kong.response.error``) unless ``body`` is given.
    :param body: a raw body: ``dict``/``list`` is sent as JSON
        (``kong.response.exit``), ``bytes``/``str`` as is.
    :param headers: extra response headers.
    """

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        body: Any = None,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.body = body
        self.headers = headers
        self.content_type = content_type


class UpstreamFailure(Exception):
    """Forwarding failed (every try, or a body wrapper gave up): the core answers ``status``.

    ``message`` set means a ``kong.response.error`` style answer (e.g. 503
    ``failure to get a peer from the ring-balancer``); ``None`` means the
    nginx-level error page for the status (502/503/504).
    """

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
