"""Kong's generated responses: negotiated error bodies (``kong/tools/http.lua``,
``kong/error_handlers.lua``) and plugin exits (``kong.response.exit``)."""

from __future__ import annotations

import json
import re
from html import escape
from typing import TYPE_CHECKING

from kongtx.errors import ProxyExit
from kongtx.http.headers import Headers

if TYPE_CHECKING:
    from kongtx.config import Config

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
XML = "application/xml; charset=utf-8"
PLAIN = "text/plain; charset=utf-8"

#: nginx-level error messages (``kong/error_handlers.lua``).
NGINX_MESSAGES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    411: "Length required",
    412: "Precondition failed",
    413: "Payload too large",
    414: "URI too long",
    417: "Expectation failed",
    431: "Request header or cookie too large",
    494: "Request header or cookie too large",
    500: "An unexpected error occurred",
    502: "An invalid response was received from the upstream server",
    503: "The upstream server is currently unavailable",
    504: "The upstream server is timing out",
}

#: Default messages of ``kong.response.error`` when none is given.
DEFAULT_MESSAGES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request size limit exceeded",
    415: "Unsupported Media Type",
    429: "Too many requests",
    500: "An unexpected error occurred",
    502: "Bad Gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}

#: ``get_mime_type``'s table: a full type, or a ``<major>/*`` range by its major type.
_MIME_TYPES = {
    "application/json": JSON,
    "text/html": HTML,
    "application/xml": XML,
    "text/plain": PLAIN,
    "application": JSON,
    "text": PLAIN,
}
_MEDIA_RANGE = re.compile(
    r"((?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*)/(?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*))", re.IGNORECASE
)
_QUALITY = re.compile(r"\s*q\s*=\s*(1(?:\.0{0,3})?|0(?:\.[0-9]{0,3})?)")


def mime_type(media: str) -> str:
    """Kong's ``get_mime_type``: the body type for one media type or range (JSON if unknown)."""
    media = media.split(";", 1)[0].strip().lower()
    major, slash, minor = media.partition("/")
    if not slash:
        return JSON
    if minor == "*":
        return _MIME_TYPES.get(major, JSON) if major != "*" else JSON
    return _MIME_TYPES.get(media, JSON)


def response_type(accept: str | None) -> str:
    """Kong's ``get_response_type``: the error body type an Accept value asks for.

    The first entry with the highest q-value wins; ``*/*`` and types Kong has
    no template for give JSON, as does no value at all.
    """
    content_type = JSON
    if not accept:
        return content_type
    best = 0.0
    for entry in accept.split(","):
        entry = entry.strip()
        match = _MEDIA_RANGE.match(entry)
        if match is None:
            continue
        q = 1.0
        for param in entry[match.end() :].split(";")[1:]:
            quality = _QUALITY.match(param)
            if quality:
                q = float(quality.group(1))
        if q > best:
            best = q
            content_type = mime_type(match.group(1))
    return content_type


def _first(headers: Headers, name: str) -> str | None:
    """The first ``name`` header, as Kong's ``get_header`` reads it."""
    return headers.get(name)


def negotiate(headers: Headers) -> str:
    """The body type of ``kong.response.error``: from ``Accept`` (JSON without one)."""
    return response_type(_first(headers, "accept"))


def load_templates(config: Config) -> dict[str, str]:
    """The ``error_template_*`` files by content type (each has two ``%s``: message, request id)."""
    templates = {}
    for kind, content_type in (("json", JSON), ("html", HTML), ("xml", XML), ("plain", PLAIN)):
        path = config.get(f"error_template_{kind}")
        if path:
            with open(path, encoding="utf-8") as template:
                templates[content_type] = template.read()
    return templates


def error_body(
    content_type: str, message: str, request_id: str, templates: dict[str, str] | None = None
) -> bytes:
    """Render the error page for ``content_type``: a configured template, else Kong's."""
    template = templates.get(content_type) if templates else None
    if template is not None:
        if content_type == JSON:
            message = json.dumps(message)[1:-1]
        elif content_type in (HTML, XML):
            message = escape(message)
        return template.replace("%s", message, 1).replace("%s", request_id, 1).encode()
    if content_type == JSON:
        return (
            '{\n  "message":%s,\n  "request_id":"%s"\n}' % (json.dumps(message), request_id)
        ).encode()
    if content_type == HTML:
        msg = escape(message)
        return (
            '<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8">\n'
            "    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n"
            f"    <p>{msg}.</p>\n    <p>request_id: {request_id}</p>\n  </body>\n</html>\n"
        ).encode()
    if content_type == XML:
        msg = escape(message)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<error>\n'
            f"  <message>{msg}</message>\n  <requestid>{request_id}</requestid>\n</error>\n"
        ).encode()
    return f"{message}\nrequest_id: {request_id}\n".encode()


def render_exit(
    exc: ProxyExit,
    request_headers: Headers,
    request_id: str,
    templates: dict[str, str] | None = None,
) -> tuple[int, Headers, bytes]:
    """Turn a :class:`ProxyExit` into ``(status, headers, body)``.

    ``body`` given: ``kong.response.exit`` (dict/list as JSON, bytes/str as is).
    Otherwise ``kong.response.error``: the negotiated error template.
    """
    headers = Headers()
    if exc.headers:
        items = exc.headers.items() if isinstance(exc.headers, dict) else exc.headers
        for name, value in items:
            headers.add(name, value)
    body = exc.body
    if body is not None:
        content_type: str | None
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            content_type = exc.content_type or JSON
        elif isinstance(body, str):
            data = body.encode()
            content_type = exc.content_type
        else:
            data = bytes(body)
            content_type = exc.content_type
        if content_type and "content-type" not in headers:
            headers.set("Content-Type", content_type)
        return exc.status, headers, data
    if exc.message is None and exc.status < 400 and exc.status != 0:
        return exc.status, headers, b""
    message = exc.message or DEFAULT_MESSAGES.get(exc.status, "An unexpected error occurred")
    content_type = negotiate(request_headers)
    headers.set("Content-Type", content_type)
    return exc.status, headers, error_body(content_type, message, request_id, templates)


def render_nginx_error(
    status: int,
    request_headers: Headers,
    request_id: str,
    default_type: str = "text/plain",
    templates: dict[str, str] | None = None,
) -> tuple[int, Headers, bytes]:
    """Kong's ``error_handlers.lua`` body for an nginx-level error (502, 504, 413, ...).

    The type comes from ``Accept``, else the request's ``Content-Type``, else
    ``error_default_type``, each read as :func:`response_type` does.
    """
    message = NGINX_MESSAGES.get(status, f"The upstream server responded with {status}")
    accept = _first(request_headers, "accept")
    if accept is None:
        accept = _first(request_headers, "content-type")
        if accept is None:
            accept = default_type
    content_type = response_type(accept)
    headers = Headers([("Content-Type", content_type)])
    wire_status = 400 if status == 494 else status
    return wire_status, headers, error_body(content_type, message, request_id, templates)
