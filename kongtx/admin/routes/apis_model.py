"""Legacy 0.x ``/apis`` objects: validation and mapping onto a service + route.

Storage layout (kongtx's choice, see the module docs of ``apis.py``): the API
``id`` is the service id; the route id is ``uuid5(API_NAMESPACE, id)``; both
carry the API ``name`` and the tag ``kongtx-api``.  Fields with no 3.x
counterpart live in service tags: ``kongtx-api-gen:09|10`` (which field
generation the client used), ``kongtx-api-ms:<created_at ms>``,
``kongtx-api-hit:0|1`` (http_if_terminated), ``kongtx-api-https:0|1``
(https_only, as the route may also be https-only for an ssl plugin) and
``kongtx-api-url:<base64url>`` (the upstream_url exactly as sent).
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "API_TAG",
    "api_https_only",
    "LegacyInvalid",
    "coerce_form_api",
    "from_service_route",
    "route_id_for",
    "to_service_route",
    "validate_api",
]

API_TAG = "kongtx-api"
API_NAMESPACE = uuid.UUID("6f1c2f6e-6b0e-4a43-9d0a-6b6f6e677478")
_NAME = re.compile(r"^[A-Za-z0-9._~-]+$")
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9._~/%-]*$")
_GEN09 = ("request_host", "request_path", "strip_request_path")
_FIELDS_09 = {
    "id",
    "name",
    "created_at",
    "request_host",
    "request_path",
    "strip_request_path",
    "preserve_host",
    "upstream_url",
}
_FIELDS_10 = {
    "id",
    "name",
    "created_at",
    "hosts",
    "uris",
    "methods",
    "strip_uri",
    "preserve_host",
    "upstream_url",
    "retries",
    "upstream_connect_timeout",
    "upstream_send_timeout",
    "upstream_read_timeout",
    "https_only",
    "http_if_terminated",
}
_BOOLS = ("strip_request_path", "preserve_host", "strip_uri", "https_only", "http_if_terminated")
_NUMBERS = {
    "retries": (0, 32767),
    "upstream_connect_timeout": (1, 2147483647),
    "upstream_send_timeout": (1, 2147483647),
    "upstream_read_timeout": (1, 2147483647),
}
_ARRAYS = ("hosts", "uris", "methods")


class LegacyInvalid(Exception):
    """A 0.x validation failure: ``body`` is the flat error object, ``status`` its code."""

    def __init__(self, body: dict[str, Any], status: int = 400) -> None:
        super().__init__(body)
        self.body = body
        self.status = status


def route_id_for(api_id: str) -> str:
    """The id of the route backing API ``api_id``."""
    return str(uuid.uuid5(API_NAMESPACE, api_id))


def generation(data: dict[str, Any]) -> str:
    """``"09"`` when the client uses 0.9 field names, else ``"10"``."""
    return "09" if any(k in data for k in _GEN09) else "10"


def coerce_form_api(data: dict[str, Any]) -> dict[str, Any]:
    """Type inference for 0.x form input (comma lists, booleans, numbers)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value == "":
            out[key] = None
        elif key in _ARRAYS and isinstance(value, str):
            out[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif key in _BOOLS and value in ("true", "false"):
            out[key] = value == "true"
        elif key in _NUMBERS and isinstance(value, str):
            try:
                out[key] = int(value)
            except ValueError:
                try:
                    out[key] = float(value)
                except ValueError:
                    out[key] = value
        else:
            out[key] = value
    return out


def _check_url(url: Any, errors: dict[str, Any]) -> None:
    if not isinstance(url, str):
        errors["upstream_url"] = "upstream_url is not a string"
        return
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        errors["upstream_url"] = "upstream_url is not a url"
    elif parts.scheme.lower() not in ("http", "https"):
        errors["upstream_url"] = "Supported protocols are HTTP and HTTPS"


def _path(value: str) -> str:
    # 0.x had no ``~`` marker: a path with characters outside the plain set is
    # a regex (Kong's migrate_path_280_300 rule).
    if len(value) > 1 and value.endswith("/") and _PLAIN_PATH.match(value):
        value = value.rstrip("/") or "/"
    return value if _PLAIN_PATH.match(value) else "~" + value


AT_LEAST_09 = "At least a 'request_host' or a 'request_path' must be specified"
_DNS_09 = re.compile(r"^[0-9A-Za-z._-]+\.[0-9A-Za-z][0-9A-Za-z]+$")
_PATH_09 = re.compile(r"^/[0-9A-Za-z._~/-]*$")
_WILDCARD_END_09 = re.compile(r".\.\*$")


def _request_host_error(host: str) -> str | None:
    """Kong 0.9's ``request_host`` check (plain DNS name, or one leading/trailing wildcard)."""
    count = host.count("*")
    if count == 0:
        if not _DNS_09.match(host) or any(
            seg == "" or seg.startswith("-") or seg.endswith("-") for seg in host.split(".")
        ):
            return f"Invalid value: {host}"
        return None
    if count == 1:
        pos = host.find("*")
        valid = (pos == 0 and host.startswith("*.")) or (
            pos == len(host) - 1 and _WILDCARD_END_09.search(host) is not None
        )
        return None if valid else f"Invalid wildcard placement: {host}"
    return f"Only one wildcard is allowed: {host}"


def _request_path_error(path: str) -> str | None:
    """Kong 0.9's ``request_path`` check."""
    if not path.startswith("/"):
        return f"must be prefixed with slash: '{path}'"
    if "//" in path:
        return f"invalid: '{path}'"
    if not _PATH_09.match(path):
        return "must only contain alphanumeric and '., -, _, ~, /' characters"
    return None


def _check_09(api: dict[str, Any], errors: dict[str, Any]) -> None:
    """0.9's ``request_host``/``request_path`` rules and its default ``name``, in place."""
    for key in ("request_host", "request_path"):
        if key in api and not isinstance(api[key], str):
            errors[key] = f"{key} is not a string"
        elif api.get(key) == "":
            del api[key]
    host, path = api.get("request_host"), api.get("request_path")
    texts = [v.strip() for v in (host, path) if isinstance(v, str)]
    if not any(texts):
        for key in ("request_host", "request_path"):
            errors.setdefault(key, AT_LEAST_09)
        return
    if isinstance(host, str):
        message = _request_host_error(host)
        if message:
            errors.setdefault("request_host", message)
    if isinstance(path, str):
        message = _request_path_error(path)
        if message:
            errors.setdefault("request_path", message)
        elif path != "/" and path.endswith("/"):
            api["request_path"] = path[:-1]
    if "name" not in api:
        source = host if isinstance(host, str) else None
        if source is None and isinstance(path, str):
            source = path[1:].replace("/", "-")
        if source:
            api["name"] = re.sub(r"[^A-Za-z0-9_.~-]", "-", source)


def validate_api(data: dict[str, Any], gen: str) -> dict[str, Any]:
    """Check a full 0.x API object (after defaults); return it normalized.

    :raises LegacyInvalid: with 0.x's flat messages.
    """
    allowed = _FIELDS_09 if gen == "09" else _FIELDS_10
    errors: dict[str, Any] = {}
    for key in data:
        if key not in allowed:
            errors[key] = f"{key} is an unknown field"
    api = {k: v for k, v in data.items() if v is not None}
    if gen == "09":
        _check_09(api, errors)
    for key in _BOOLS:
        if key in api and not isinstance(api[key], bool):
            errors[key] = f"{key} is not a boolean"
    for key, (low, high) in _NUMBERS.items():
        value = api.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors[key] = f"{key} is not a number"
        elif value != int(value) or not low <= value <= high:
            errors[key] = f"{key} must be an integer between {low} and {high}"
        else:
            api[key] = int(value)
    for key in _ARRAYS:
        value = api.get(key)
        if isinstance(value, str):
            api[key] = [value]
        elif value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            errors[key] = f"{key} is not an array"
    if "name" not in api:
        if gen != "09":  # 0.9 derives the name and does not require one
            errors.setdefault("name", "name is required")
    elif not isinstance(api["name"], str) or not _NAME.match(api["name"]):
        errors.setdefault("name", "name must only contain alphanumeric and '., -, _, ~' characters")
    if "upstream_url" not in api:
        errors.setdefault("upstream_url", "upstream_url is required")
    else:
        _check_url(api["upstream_url"], errors)
    for value in api.get("uris") or []:
        if not isinstance(value, str) or not value.startswith("/"):
            errors.setdefault("uris", f"uris must be prefixed with slash: '{value}'")
    if errors:
        raise LegacyInvalid(errors)
    if gen == "10" and not (api.get("hosts") or api.get("uris") or api.get("methods")):
        raise LegacyInvalid(
            {"message": "at least one of 'hosts', 'uris' or 'methods' must be specified"}
        )
    if "methods" in api:
        api["methods"] = [m.upper() for m in api["methods"]]
    return api


def to_service_route(
    api: dict[str, Any], gen: str, api_id: str, created_ms: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Translate a validated API into service and route inputs for the DAO."""
    url = api["upstream_url"]
    if gen == "09":
        hosts = [api["request_host"]] if api.get("request_host") else None
        paths = [_path(api["request_path"])] if api.get("request_path") else None
        methods = None
        strip = bool(api.get("strip_request_path", False))
        https_only = False
    else:
        hosts = api.get("hosts") or None
        paths = [_path(p) for p in api["uris"]] if api.get("uris") else None
        methods = api.get("methods") or None
        strip = bool(api.get("strip_uri", True))
        https_only = bool(api.get("https_only", False))
    hit = "1" if api.get("http_if_terminated", False) else "0"
    encoded = base64.urlsafe_b64encode(url.encode()).decode()
    service = {
        "name": api["name"],
        "url": url,
        "retries": api.get("retries", 5),
        "connect_timeout": api.get("upstream_connect_timeout", 60000),
        "write_timeout": api.get("upstream_send_timeout", 60000),
        "read_timeout": api.get("upstream_read_timeout", 60000),
        "tags": [
            API_TAG,
            f"kongtx-api-gen:{gen}",
            f"kongtx-api-hit:{hit}",
            f"kongtx-api-https:{int(https_only)}",
            f"kongtx-api-url:{encoded}",
        ],
    }
    if created_ms is not None:
        service["tags"].append(f"kongtx-api-ms:{created_ms}")
    route = {
        "name": api["name"],
        "hosts": hosts,
        "paths": paths,
        "methods": methods,
        "strip_path": strip,
        "preserve_host": bool(api.get("preserve_host", False)),
        "protocols": ["https"] if https_only else ["http", "https"],
        "service": {"id": api_id},
        "tags": [API_TAG],
    }
    return service, route


def _tag_value(tags: list[str], prefix: str) -> str | None:
    for tag in tags:
        if tag.startswith(prefix):
            return tag[len(prefix) :]
    return None


def api_https_only(service: dict[str, Any], route: dict[str, Any] | None = None) -> bool:
    """The API's own ``https_only`` (an ssl plugin's only_https also makes its route https-only)."""
    flag = _tag_value(service.get("tags") or [], "kongtx-api-https:")
    if flag is not None:
        return flag == "1"
    return bool(route) and (route or {}).get("protocols") == ["https"]


def _unregex(path: str) -> str:
    return path.removeprefix("~")


def from_service_route(service: dict[str, Any], route: dict[str, Any] | None) -> dict[str, Any]:
    """The 0.x representation (``created_at`` in ms, unset fields omitted)."""
    tags = service.get("tags") or []
    gen = _tag_value(tags, "kongtx-api-gen:") or "10"
    encoded = _tag_value(tags, "kongtx-api-url:")
    url = base64.urlsafe_b64decode(encoded.encode()).decode() if encoded else None
    ms = _tag_value(tags, "kongtx-api-ms:")
    route = route or {}
    api: dict[str, Any] = {
        "id": service["id"],
        "name": service.get("name"),
        "created_at": int(ms) if ms else int(service.get("created_at") or 0) * 1000,
        "upstream_url": url,
        "preserve_host": bool(route.get("preserve_host", False)),
    }
    hosts, paths = route.get("hosts") or [], route.get("paths") or []
    if gen == "09":
        if hosts:
            api["request_host"] = hosts[0]
        if paths:
            api["request_path"] = _unregex(paths[0])
        api["strip_request_path"] = bool(route.get("strip_path", False))
    else:
        if hosts:
            api["hosts"] = list(hosts)
        if paths:
            api["uris"] = [_unregex(p) for p in paths]
        if route.get("methods"):
            api["methods"] = list(route["methods"])
        api["strip_uri"] = bool(route.get("strip_path", True))
        api["retries"] = service.get("retries")
        api["upstream_connect_timeout"] = service.get("connect_timeout")
        api["upstream_send_timeout"] = service.get("write_timeout")
        api["upstream_read_timeout"] = service.get("read_timeout")
        api["https_only"] = api_https_only(service, route)
        api["http_if_terminated"] = _tag_value(tags, "kongtx-api-hit:") == "1"
    return {k: v for k, v in api.items() if v is not None}
