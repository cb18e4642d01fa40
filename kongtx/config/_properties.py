"""The table of known configuration properties, with defaults and parsers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kongtx.config._listeners import Listener, parse_listeners
from kongtx.config._parsers import (
    parse_boolean,
    parse_duration,
    parse_enum,
    parse_integer,
    parse_list,
    parse_list_off,
    parse_members,
    parse_number,
    parse_size,
    parse_string,
    parse_trusted_ips,
    parse_words,
    parse_workers,
)


@dataclass(frozen=True)
class Property:
    """A known configuration property: default (raw string, None = unset) and parser."""

    default: str | None
    parse: Callable[[str], Any] = parse_string
    nullable: bool = True
    many: bool = False  # list-valued: unset is [] rather than None
    secret: bool = False


_LIST_PARSERS = (parse_list, parse_words, parse_trusted_ips, parse_listeners)


def _p(default: str | None, parse: Callable[[str], Any] = parse_string, **kw: Any) -> Any:
    """Declare a property (typed ``Any`` so the declaration's annotation is the value's type)."""
    many = kw.pop("many", parse in _LIST_PARSERS)
    nullable = kw.pop("nullable", default is None or many)
    return Property(default, parse, nullable, many, **kw)


_HEADER_NAMES = (
    "server_tokens", "latency_tokens", "Server", "Via", "X-Kong-Upstream-Latency",
    "X-Kong-Proxy-Latency", "X-Kong-Response-Latency", "X-Kong-Admin-Latency",
    "X-Kong-Upstream-Status", "X-Kong-Request-Id",
)  # fmt: skip

LISTENERS = parse_listeners


class Properties:
    """Every property kongtx knows: its type, Kong's default (kongtx changes noted) and parser.

    Each is declared once, here; :class:`kongtx.config.Config` inherits the
    declarations (so each attribute is typed) and holds the parsed values.
    """

    # general
    prefix: str = _p("./kongtx-prefix", nullable=False)  # kongtx: relative to the cwd
    log_level: str = _p(
        "notice", parse_enum("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")
    )
    proxy_access_log: str = _p("logs/access.log")
    proxy_error_log: str = _p("logs/error.log")
    admin_access_log: str = _p("logs/admin_access.log")
    admin_error_log: str = _p("logs/error.log")
    status_access_log: str = _p("off")
    status_error_log: str = _p("logs/status_error.log")
    plugins: list[str] = _p("bundled", parse_list_off, many=True)
    port_maps: list[str] = _p(None, parse_list)
    anonymous_reports: bool = _p("on", parse_boolean)
    role: str = _p("traditional", parse_enum("traditional"))
    worker_processes: int | str = _p("1", parse_workers)  # kongtx addition
    proxy_frontend: str = _p("native", parse_enum("native", "resource"))  # kongtx addition
    # listeners (kongtx: no reuseport/backlog, no admin TLS listener by default)
    proxy_listen: list[Listener] = _p("0.0.0.0:8000, 0.0.0.0:8443 ssl", LISTENERS)
    admin_listen: list[Listener] = _p("127.0.0.1:8001", LISTENERS)
    status_listen: list[Listener] = _p("off", LISTENERS)
    stream_listen: list[Listener] = _p("off", LISTENERS)
    # TLS
    ssl_cert: list[str] = _p(None, parse_list)
    ssl_cert_key: list[str] = _p(None, parse_list)
    admin_ssl_cert: list[str] = _p(None, parse_list)
    admin_ssl_cert_key: list[str] = _p(None, parse_list)
    status_ssl_cert: list[str] = _p(None, parse_list)
    status_ssl_cert_key: list[str] = _p(None, parse_list)
    ssl_protocols: list[str] = _p(
        "TLSv1.2 TLSv1.3",
        parse_members(parse_words, "TLSv1.2", "TLSv1.3"),
        many=True,
        nullable=False,
    )
    ssl_cipher_suite: str = _p(
        "intermediate", parse_enum("modern", "intermediate", "old", "fips", "custom")
    )
    ssl_ciphers: str | None = _p(None)
    client_ssl: bool = _p("off", parse_boolean)
    client_ssl_cert: str | None = _p(None)
    client_ssl_cert_key: str | None = _p(None)
    lua_ssl_trusted_certificate: list[str] = _p("system", parse_list)
    lua_ssl_verify_depth: int = _p("1", parse_integer(0))
    # proxy behaviour
    headers: list[str] = _p(
        "server_tokens, latency_tokens, X-Kong-Request-Id",
        parse_members(parse_list_off, *_HEADER_NAMES),
        many=True,
    )
    headers_upstream: list[str] = _p(
        "X-Kong-Request-Id", parse_members(parse_list_off, "X-Kong-Request-Id"), many=True
    )
    trusted_ips: list[str] = _p(None, parse_trusted_ips)
    real_ip_header: str = _p("X-Real-IP")
    real_ip_recursive: bool = _p("off", parse_boolean)
    error_default_type: str = _p(
        "text/plain", parse_enum("text/plain", "application/json", "text/html", "application/xml")
    )
    error_template_html: str | None = _p(None)
    error_template_json: str | None = _p(None)
    error_template_xml: str | None = _p(None)
    error_template_plain: str | None = _p(None)
    allow_debug_header: bool = _p("off", parse_boolean)
    upstream_keepalive_pool_size: int = _p("512", parse_integer(0))
    upstream_keepalive_max_requests: int = _p("10000", parse_integer(0))
    upstream_keepalive_idle_timeout: int = _p("60", parse_integer(0))
    nginx_http_client_max_body_size: int = _p("0", parse_size)
    nginx_admin_client_max_body_size: int = _p("10m", parse_size)
    nginx_proxy_proxy_buffer_size: int = _p("160k", parse_size)
    nginx_admin_client_header_timeout: float = _p("60s", parse_duration)
    admin_gui_origin: list[str] = _p(None, parse_list)
    # Host names the Admin API answers to (against DNS rebinding; kongtx addition):
    # "auto" = the loopback names when every admin listener is on loopback, else any; "*" = any.
    admin_allowed_hosts: list[str] = _p("auto", parse_list)
    client_body_buffer_size: int = _p("8k", parse_size)
    lua_max_req_headers: int = _p("100", parse_integer(1, 1000))
    lua_max_resp_headers: int = _p("100", parse_integer(1, 1000))
    lua_max_uri_args: int = _p("100", parse_integer(1, 1000))
    lua_max_post_args: int = _p("100", parse_integer(1, 1000))
    untrusted_lua: str = _p("sandbox", parse_enum("on", "off", "sandbox"))
    router_flavor: str = _p(
        "traditional_compatible", parse_enum("traditional_compatible", "traditional", "expressions")
    )
    # datastore (kongtx: embedded sqlite by default)
    database: str = _p("sqlite", parse_enum("sqlite", "postgres", "off"))
    pg_host: str = _p("127.0.0.1", nullable=False)
    pg_port: int = _p("5432", parse_integer(1, 65535))
    pg_user: str = _p("kong", nullable=False)
    pg_password: str | None = _p(None, secret=True)
    pg_database: str = _p("kong", nullable=False)
    pg_schema: str | None = _p(None)
    pg_timeout: int = _p("5000", parse_integer(1))
    pg_ssl: bool = _p("off", parse_boolean)
    pg_ssl_verify: bool = _p("off", parse_boolean)
    pg_max_concurrent_queries: int = _p("0", parse_integer(0))
    pg_semaphore_timeout: int = _p("60000", parse_integer(0))
    declarative_config: str | None = _p(None)
    declarative_config_string: str | None = _p(None, secret=True)
    db_update_frequency: float = _p("5", parse_number)
    db_update_propagation: float = _p("0", parse_number)
    db_cache_ttl: float = _p("0", parse_number)
    db_cache_neg_ttl: float | None = _p(None, parse_number)
    db_resurrect_ttl: float = _p("30", parse_number)
    db_cache_warmup_entities: list[str] = _p("services", parse_list)
    mem_cache_size: int = _p("128m", parse_size)
    worker_consistency: str = _p("eventual", parse_enum("eventual", "strict"))
    worker_state_update_frequency: float = _p("5", parse_number)
    # DNS
    dns_resolver: list[str] = _p(None, parse_list)
    dns_hostsfile: str = _p("/etc/hosts")
    dns_order: list[str] = _p(
        "LAST,SRV,A,CNAME",
        parse_members(parse_list, "LAST", "SRV", "A", "AAAA", "CNAME"),
        many=True,
    )
    dns_valid_ttl: float | None = _p(None, parse_number)
    dns_stale_ttl: float = _p("3600", parse_number)
    dns_not_found_ttl: float = _p("30", parse_number)
    dns_error_ttl: float = _p("1", parse_number)
    dns_no_sync: bool = _p("off", parse_boolean)


#: The properties by name, in declaration order.
PROPERTIES: dict[str, Property] = {
    name: value for name, value in vars(Properties).items() if isinstance(value, Property)
}
