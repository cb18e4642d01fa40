"""Kong's generated responses: negotiated error bodies (``kong/tools/http.lua``,
``kong/error_handlers.lua``) and plugin exits (``kong.response.exit``)."""

from __future__ import annotations

import json
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

_TYPES = (
    ("application/json", JSON),
    ("text/html", HTML),
    ("application/xml", XML),
    ("text/plain", PLAIN),
)


def _by_accept(accept: str | None) -> str | None:
    """The best supported type in an Accept header, honouring q-values; None if nothing fits."""
    if not accept:
        return None
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        fields = part.strip().split(";")
        media = fields[0].strip().lower()
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        for key, full in _TYPES:
            if media == key or media == key.split("/")[0] + "/*":
                candidate = (q, -position, full)
                if best is None or candidate[:2] > best[:2]:
                    best = candidate
                break
    return best[2] if best else None


def negotiate(headers: Headers, default: str = JSON, use_content_type: bool = False) -> str:
    """Pick the error body type: Accept, then (nginx errors) the request Content-Type, then ``default``."""
    chosen = _by_accept(headers.get("accept"))
    if chosen:
        return chosen
    if use_content_type:
        chosen = _by_accept(headers.get("content-type"))
        if chosen:
            return chosen
    return default


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
    """Kong's ``error_handlers.lua`` body for an nginx-level error (502, 504, 413, ...)."""
    message = NGINX_MESSAGES.get(status, f"The upstream server responded with {status}")
    default = _by_accept(default_type) or PLAIN
    content_type = negotiate(request_headers, default=default, use_content_type=True)
    headers = Headers([("Content-Type", content_type)])
    wire_status = 400 if status == 494 else status
    return wire_status, headers, error_body(content_type, message, request_id, templates)
