"""The 0.x ``ssl`` plugin on legacy APIs (Kong 0.3–0.9), kept working by translation.

``POST /apis/{api}/plugins`` with ``name=ssl`` stores a certificate whose SNIs
are the API's hosts (the proxy serves it by SNI, as the plugin did for the
API's ``request_host``); ``config.only_https`` makes the API's route
https-only (plain HTTP gets Kong's 426). The certificate carries the tags
``kongtx-api-ssl``, ``kongtx-api-ssl:<api id>`` and
``kongtx-api-ssl-opts:<only_https><accept_http_if_already_terminated>`` (0/1
each); the plugin is shown with the certificate's id. With
``accept_http_if_already_terminated``, plain HTTP is accepted as kongtx
accepts it for any https-only route: from ``trusted_ips`` sending
``X-Forwarded-Proto: https``.
"""

from __future__ import annotations

from typing import Any

from kongtx.admin.routes.apis_model import LegacyInvalid
from kongtx.errors import KongtxError, SchemaViolation, UniqueViolation

__all__ = [
    "SSL_TAG",
    "api_hosts",
    "certificate_input",
    "is_ssl_certificate",
    "ssl_error",
    "ssl_options",
    "ssl_plugin_view",
    "ssl_tag",
    "validate_ssl_config",
]

SSL_TAG = "kongtx-api-ssl"
_OPTS = "kongtx-api-ssl-opts:"
_BOOLEANS = ("only_https", "accept_http_if_already_terminated")


def ssl_tag(api_id: str) -> str:
    """The tag marking the certificate of API ``api_id``'s ssl plugin."""
    return f"{SSL_TAG}:{api_id}"


def is_ssl_certificate(row: dict[str, Any], api_id: str) -> bool:
    """True if certificate ``row`` is API ``api_id``'s ssl plugin."""
    return ssl_tag(api_id) in (row.get("tags") or [])


def validate_ssl_config(config: Any) -> dict[str, Any]:
    """Check an ssl plugin ``config`` (form strings accepted); returns it with defaults.

    :raises LegacyInvalid: with 0.x's ``config.<field>`` messages.
    """
    if not isinstance(config, dict):
        config = {}
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"only_https": False, "accept_http_if_already_terminated": False}
    for key, value in config.items():
        if key in ("cert", "key"):
            if not isinstance(value, str):
                errors[f"config.{key}"] = f"{key} is not a string"
            else:
                out[key] = value
        elif key in _BOOLEANS:
            if value in ("true", "false"):
                value = value == "true"
            if value is None:
                continue
            if not isinstance(value, bool):
                errors[f"config.{key}"] = f"{key} is not a boolean"
            else:
                out[key] = value
        else:
            errors[f"config.{key}"] = f"{key} is an unknown field"
    for key in ("cert", "key"):
        if key not in out and f"config.{key}" not in errors:
            errors[f"config.{key}"] = f"{key} is required"
    if errors:
        raise LegacyInvalid(errors)
    return out


def api_hosts(api: dict[str, Any]) -> list[str]:
    """The hosts an API answers for: 0.9's ``request_host`` or 0.10's ``hosts``."""
    if api.get("request_host"):
        return [api["request_host"]]
    return list(api.get("hosts") or [])


def certificate_input(api_id: str, hosts: list[str], config: dict[str, Any]) -> dict[str, Any]:
    """The certificate row (``snis`` = the API's hosts) standing for the plugin."""
    flags = "".join("1" if config[key] else "0" for key in _BOOLEANS)
    return {
        "cert": config["cert"],
        "key": config["key"],
        "snis": hosts,
        "tags": [SSL_TAG, ssl_tag(api_id), _OPTS + flags],
    }


def ssl_options(row: dict[str, Any]) -> tuple[bool, bool]:
    """``(only_https, accept_http_if_already_terminated)`` of a plugin certificate."""
    for tag in row.get("tags") or []:
        if tag.startswith(_OPTS):
            flags = tag[len(_OPTS) :]
            return flags[:1] == "1", flags[1:2] == "1"
    return False, False


def ssl_plugin_view(row: dict[str, Any], api_id: str) -> dict[str, Any]:
    """The 0.x plugin object shown for a plugin certificate."""
    only_https, accept = ssl_options(row)
    return {
        "id": row["id"],
        "name": "ssl",
        "api_id": api_id,
        "config": {
            "cert": row["cert"],
            "key": row["key"],
            "only_https": only_https,
            "accept_http_if_already_terminated": accept,
        },
        "enabled": True,
        "created_at": int(row.get("created_at") or 0) * 1000,
    }


def ssl_error(err: KongtxError) -> tuple[int, dict[str, Any]]:
    """A certificate write failure as the ssl plugin reported it."""
    fields = err.fields if isinstance(err.fields, dict) else {}
    if isinstance(err, SchemaViolation):
        out: dict[str, Any] = {}
        if "cert" in fields:
            out["config.cert"] = "Invalid SSL certificate"
        if "key" in fields:
            out["config.key"] = "Invalid SSL certificate key"
        if "snis" in fields:
            out["request_host"] = str(fields["snis"])
        return 400, out or {"message": err.message}
    if isinstance(err, UniqueViolation):
        return 409, {"message": err.message}
    return err.http_status, err.to_body()
