"""ALF 1.1.0 (the Galileo agent spec), as Kong 0.x's ``galileo/alf.lua`` builds it (sans-IO).

An entry is a HAR entry: ``time``, ``startedDateTime`` (UTC, seconds),
``serverIPAddress``, ``clientIPAddress``, ``request`` (``httpVersion``,
``method``, ``url`` = scheme://host + request URI, ``queryString`` and
``headers`` as ``[{name, value}]``, ``headersSize``, ``postData`` with
``log_bodies``, ``bodyCaptured``, ``bodySize``), ``response`` (``status``,
``statusText`` "", ``httpVersion``, ``headers``, ``content`` with
``log_bodies``, ``headersSize`` 0, ``bodyCaptured``, ``bodySize``) and
``timings`` (``send`` = Kong's proxy latency, ``wait`` = upstream latency,
``receive`` 0). An ALF wraps entries with ``version``, ``serviceToken``,
``environment`` and the creator ``galileo-agent-kong`` 2.0.0.
"""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

from kongtx.logsinks.serializer import headers_table, querystring_table

if TYPE_CHECKING:
    from kongtx.proxy.context import ProxyContext

__all__ = ["ALF_VERSION", "CREATOR", "alf_body", "alf_entry"]

ALF_VERSION = "1.1.0"
CREATOR = {"name": "galileo-agent-kong", "version": "2.0.0"}


def _pairs(table: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, value in table.items():
        for item in value if isinstance(value, list) else (value,):
            out.append({"name": name, "value": item})
    return out


def _has_body(headers: dict[str, Any]) -> bool:
    """alf.lua's RFC 2616 guess: a length > 0, a transfer-encoding or multipart/byteranges."""

    def last(name: str) -> Any:
        value = headers.get(name)
        return value[-1] if isinstance(value, list) else value

    try:
        length = int(last("content-length") or 0)
    except ValueError:
        length = 0
    return (
        length > 0
        or last("transfer-encoding") is not None
        or last("content-type") == "multipart/byteranges"
    )


def _content(body: bytes | None, headers: dict[str, Any]) -> dict[str, Any] | None:
    if body is None:
        return None
    content_type = headers.get("content-type") or "application/octet-stream"
    if isinstance(content_type, list):
        content_type = content_type[-1]
    return {
        "text": base64.b64encode(body).decode(),
        "encoding": "base64",
        "mimeType": content_type,
    }


def alf_entry(
    ctx: ProxyContext,
    server_addr: str,
    log_bodies: bool,
    request_body: bytes | None = None,
    response_body: bytes | None = None,
) -> dict[str, Any]:
    """The ALF entry of a finished request (keys with no value are left out, as cjson does)."""
    request = ctx.request
    req_headers = headers_table(request.headers)
    res_headers = headers_table(ctx.response_headers)
    version = f"HTTP/{request.version}"
    host = (request.headers.get("host") or "").partition(":")[0]
    send = ctx.proxy_latency or 0
    wait = ctx.upstream_latency or 0
    head_size = len(request.method) + len(request.target) + len(request.version) + 9
    head_size += sum(len(n) + len(v) + 4 for n, v in request.headers.items()) + 2
    req_entry: dict[str, Any] = {
        "httpVersion": version,
        "method": request.method,
        "url": f"{request.scheme}://{host}{request.target}",
        "queryString": _pairs(querystring_table(request.query)),
        "headers": _pairs(req_headers),
        "headersSize": head_size,
        # the framing headers were consumed by the proxy: a body is known by its presence
        "bodyCaptured": request.body is not None or _has_body(req_headers),
        "bodySize": 0,
    }
    res_entry: dict[str, Any] = {
        "status": ctx.response_status,
        "statusText": "",
        "httpVersion": version,
        "headers": _pairs(res_headers),
        "headersSize": 0,
        "bodyCaptured": _has_body(res_headers),
        "bodySize": 0,
    }
    if log_bodies:
        # ngx.req.get_body_data() is nil for an empty body: no postData then
        post_data = _content(request_body or None, req_headers)
        if post_data is not None:
            req_entry["postData"] = post_data
            req_entry["bodySize"] = len(request_body or b"")
        content = _content(response_body, res_headers)
        if content is not None:
            res_entry["content"] = content
            res_entry["bodySize"] = len(response_body or b"")
    return {
        "time": send + wait,
        "startedDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ctx.started_at)),
        "serverIPAddress": server_addr,
        "clientIPAddress": ctx.request.client_ip,
        "request": req_entry,
        "response": res_entry,
        "timings": {"send": send, "wait": wait, "receive": 0},
    }


def alf_body(entries: list[bytes], service_token: str, environment: str | None) -> bytes:
    """The JSON ALF of already encoded entries."""
    head: dict[str, Any] = {"version": ALF_VERSION, "serviceToken": service_token}
    if environment is not None:
        head["environment"] = environment
    prefix = json.dumps(head, separators=(",", ":"))[:-1]
    creator = json.dumps(CREATOR, separators=(",", ":"))
    return (
        f'{prefix},"har":{{"log":{{"creator":{creator},"entries":['.encode()
        + b",".join(entries)
        + b"]}}}"
    )
