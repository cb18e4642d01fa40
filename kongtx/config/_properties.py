"""The table of known configuration properties, with defaults and parsers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kongtx.config._listeners import parse_listeners
from kongtx.config._parsers import (
    _boolean,
    _enum,
    _integer,
    _list,
    _list_off,
    _members,
    _number,
    _string,
    _trusted_ips,
    _words,
    _workers,
    parse_size,
)


@dataclass(frozen=True)
class Property:
    """A known configuration property: default (raw string, None = unset) and parser."""

    default: str | None
    parse: Callable[[str], Any] = _string
    nullable: bool = True
    many: bool = False  # list-valued: unset is [] rather than None
    secret: bool = False


_LIST_PARSERS = (_list, _words, _trusted_ips, parse_listeners)


def _p(default: str | None, parse: Callable[[str], Any] = _string, **kw: Any) -> Property:
    many = kw.pop("many", parse in _LIST_PARSERS)
    nullable = kw.pop("nullable", default is None or many)
    return Property(default, parse, nullable, many, **kw)


_HEADER_NAMES = (
    "server_tokens", "latency_tokens", "Server", "Via", "X-Kong-Upstream-Latency",
    "X-Kong-Proxy-Latency", "X-Kong-Response-Latency", "X-Kong-Admin-Latency",
    "X-Kong-Upstream-Status", "X-Kong-Request-Id",
)  # fmt: skip

_LISTENERS = parse_listeners

#: Every property kongtx knows, with Kong's defaults (kongtx changes noted).
PROPERTIES: dict[str, Property] = {
    # general
    "prefix": _p("./kongtx-prefix", nullable=False),  # kongtx: relative to the cwd
    "log_level": _p(
        "notice", _enum("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")
    ),
    "proxy_access_log": _p("logs/access.log"),
    "proxy_error_log": _p("logs/error.log"),
    "admin_access_log": _p("logs/admin_access.log"),
    "admin_error_log": _p("logs/error.log"),
    "status_access_log": _p("off"),
    "status_error_log": _p("logs/status_error.log"),
    "plugins": _p("bundled", _list_off, many=True),
    "port_maps": _p(None, _list),
    "anonymous_reports": _p("on", _boolean),
    "role": _p("traditional", _enum("traditional")),
    "worker_processes": _p("1", _workers),  # kongtx addition
    "proxy_frontend": _p("native", _enum("native", "resource")),  # kongtx addition
    # listeners (kongtx: no reuseport/backlog, no admin TLS listener by default)
    "proxy_listen": _p("0.0.0.0:8000, 0.0.0.0:8443 ssl", _LISTENERS),
    "admin_listen": _p("127.0.0.1:8001", _LISTENERS),
    "status_listen": _p("off", _LISTENERS),
    "stream_listen": _p("off", _LISTENERS),
    # TLS
    "ssl_cert": _p(None, _list),
    "ssl_cert_key": _p(None, _list),
    "admin_ssl_cert": _p(None, _list),
    "admin_ssl_cert_key": _p(None, _list),
    "status_ssl_cert": _p(None, _list),
    "status_ssl_cert_key": _p(None, _list),
    "ssl_protocols": _p(
        "TLSv1.2 TLSv1.3", _members(_words, "TLSv1.2", "TLSv1.3"), many=True, nullable=False
    ),
    "ssl_cipher_suite": _p(
        "intermediate", _enum("modern", "intermediate", "old", "fips", "custom")
    ),
    "ssl_ciphers": _p(None),
    "client_ssl": _p("off", _boolean),
    "client_ssl_cert": _p(None),
    "client_ssl_cert_key": _p(None),
    "lua_ssl_trusted_certificate": _p("system", _list),
    "lua_ssl_verify_depth": _p("1", _integer(0)),
    # proxy behaviour
    "headers": _p(
        "server_tokens, latency_tokens, X-Kong-Request-Id",
        _members(_list_off, *_HEADER_NAMES),
        many=True,
    ),
    "headers_upstream": _p(
        "X-Kong-Request-Id", _members(_list_off, "X-Kong-Request-Id"), many=True
    ),
    "trusted_ips": _p(None, _trusted_ips),
    "real_ip_header": _p("X-Real-IP"),
    "real_ip_recursive": _p("off", _boolean),
    "error_default_type": _p(
        "text/plain", _enum("text/plain", "application/json", "text/html", "application/xml")
    ),
    "error_template_html": _p(None),
    "error_template_json": _p(None),
    "error_template_xml": _p(None),
    "error_template_plain": _p(None),
    "allow_debug_header": _p("off", _boolean),
    "upstream_keepalive_pool_size": _p("512", _integer(0)),
    "upstream_keepalive_max_requests": _p("10000", _integer(0)),
    "upstream_keepalive_idle_timeout": _p("60", _integer(0)),
    "nginx_http_client_max_body_size": _p("0", parse_size),
    "nginx_admin_client_max_body_size": _p("10m", parse_size),
    "client_body_buffer_size": _p("8k", parse_size),
    "lua_max_req_headers": _p("100", _integer(1, 1000)),
    "lua_max_resp_headers": _p("100", _integer(1, 1000)),
    "lua_max_uri_args": _p("100", _integer(1, 1000)),
    "lua_max_post_args": _p("100", _integer(1, 1000)),
    "untrusted_lua": _p("sandbox", _enum("on", "off", "sandbox")),
    "router_flavor": _p(
        "traditional_compatible", _enum("traditional_compatible", "traditional", "expressions")
    ),
    # datastore (kongtx: embedded sqlite by default)
    "database": _p("sqlite", _enum("sqlite", "postgres", "off")),
    "pg_host": _p("127.0.0.1", nullable=False),
    "pg_port": _p("5432", _integer(1, 65535)),
    "pg_user": _p("kong", nullable=False),
    "pg_password": _p(None, secret=True),
    "pg_database": _p("kong", nullable=False),
    "pg_schema": _p(None),
    "pg_timeout": _p("5000", _integer(1)),
    "pg_ssl": _p("off", _boolean),
    "pg_ssl_verify": _p("off", _boolean),
    "pg_max_concurrent_queries": _p("0", _integer(0)),
    "pg_semaphore_timeout": _p("60000", _integer(0)),
    "declarative_config": _p(None),
    "declarative_config_string": _p(None, secret=True),
    "db_update_frequency": _p("5", _number),
    "db_update_propagation": _p("0", _number),
    "db_cache_ttl": _p("0", _number),
    "db_cache_neg_ttl": _p(None, _number),
    "db_resurrect_ttl": _p("30", _number),
    "db_cache_warmup_entities": _p("services", _list),
    "mem_cache_size": _p("128m", parse_size),
    "worker_consistency": _p("eventual", _enum("eventual", "strict")),
    "worker_state_update_frequency": _p("5", _number),
    # DNS
    "dns_resolver": _p(None, _list),
    "dns_hostsfile": _p("/etc/hosts"),
    "dns_order": _p(
        "LAST,SRV,A,CNAME", _members(_list, "LAST", "SRV", "A", "AAAA", "CNAME"), many=True
    ),
    "dns_valid_ttl": _p(None, _number),
    "dns_stale_ttl": _p("3600", _number),
    "dns_not_found_ttl": _p("30", _number),
    "dns_error_ttl": _p("1", _number),
    "dns_no_sync": _p("off", _boolean),
}
