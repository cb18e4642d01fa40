"""kongtx configuration: ``kongtx.conf`` + environment + overrides -> :class:`Config`.

Kong's ``kong.conf`` rules (``kong/conf_loader``): ``key = value`` lines, ``#``
comments, ``on``/``off`` booleans, comma lists, ``NONE`` or empty for unset.
Precedence, lowest first: built-in defaults, the file, ``KONG_<PROPERTY>``
(drop-in compatibility), ``KONGTX_<PROPERTY>``, then explicit overrides (the
twistd command line).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kongtx.errors import ConfigError

__all__ = [
    "DEFAULT_PATHS",
    "PROPERTIES",
    "Config",
    "Listener",
    "load_config",
    "parse_conf_text",
    "parse_listeners",
    "parse_size",
]

#: Looked up, in order, when no configuration path is given (Kong: /etc/kong/kong.conf).
DEFAULT_PATHS = ("/etc/kongtx/kongtx.conf", "/etc/kongtx.conf")

#: Placeholder Kong shows in place of secrets (``GET /`` configuration).
REDACTED = "******"

_LISTENER_FLAGS = frozenset({"ssl", "http2", "proxy_protocol", "deferred", "bind", "reuseport"})
_LISTENER_KV_FLAGS = ("backlog=", "ipv6only=", "so_keepalive=")
_ENDPOINT_PREFIXES = ("tcp:", "tcp6:", "ssl:", "unix:", "systemd:")


@dataclass(frozen=True)
class Listener:
    """One listening socket.

    :param endpoint: a Twisted server endpoint string (``tcp:8000:interface=0.0.0.0``).
        For a Kong-style ``ssl`` listener this is the plain TCP endpoint: the
        gateway wraps it with the SNI context of :mod:`kongtx.tls`.
    :param ssl: whether clients speak TLS on it.
    :param flags: Kong flags (``ssl``, ``http2``, ``reuseport``, ``backlog=N`` ...).
    :param host: the bound address (``0.0.0.0``, ``::``), or a socket path for ``unix:``.
    :param port: the bound port (0 when the kernel picks one or for ``unix:``).
    :param listener: the listener as written in the configuration.
    """

    endpoint: str
    ssl: bool
    flags: frozenset[str]
    host: str
    port: int
    listener: str = ""

    @property
    def needs_tls_wrap(self) -> bool:
        """True when the gateway must add TLS itself (``ssl`` flag on a plain endpoint)."""
        return self.ssl and not self.endpoint.startswith("ssl:")

    @property
    def backlog(self) -> int | None:
        """The ``backlog=N`` flag, if any."""
        for flag in self.flags:
            if flag.startswith("backlog="):
                return int(flag[8:])
        return None

    def describe(self) -> dict[str, Any]:
        """Kong's ``proxy_listeners`` entry for ``GET /``."""
        out: dict[str, Any] = {"ip": self.host, "port": self.port, "listener": self.listener}
        for flag in sorted(_LISTENER_FLAGS):
            out[flag] = flag in self.flags
        out["backlog"] = self.backlog
        return out


# --------------------------------------------------------------------------- parsers
# A parser takes the raw string and returns the value or raises ValueError with
# the reason; the loader wraps it into a ConfigError naming setting and value.

_BOOLEANS = {"on": True, "true": True, "off": False, "false": False}
_SIZE_RE = re.compile(r"^(\d+)\s*([kKmMgG]?)$")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _boolean(raw: str) -> bool:
    try:
        return _BOOLEANS[raw.lower()]
    except KeyError:
        raise ValueError("expected one of on, off, true, false") from None


def _integer(minimum: int | None = 0, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw, 10)
        except ValueError:
            raise ValueError("expected an integer") from None
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum}")
        return value

    return parse


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number") from None
    if not 0 <= value < float("inf"):
        raise ValueError("must be a positive number")
    return value


def parse_size(raw: str) -> int:
    """Parse an nginx size (``512``, ``8k``, ``10m``, ``1g``) into bytes.

    :raises ValueError: not a size.
    """
    match = _SIZE_RE.match(raw.strip())
    if match is None:
        raise ValueError("expected a size such as 512, 8k, 10m or 1g")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def _string(raw: str) -> str:
    return raw


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _list_off(raw: str) -> list[str]:
    """A comma list where ``off`` alone means empty (``plugins``, ``headers``)."""
    items = _list(raw)
    if any(item.lower() == "off" for item in items):
        if len(items) > 1:
            raise ValueError("'off' cannot be combined with other values")
        return []
    return items


def _words(raw: str) -> list[str]:
    return raw.split()


def _enum(*choices: str) -> Callable[[str], str]:
    lowered = {c.lower(): c for c in choices}

    def parse(raw: str) -> str:
        try:
            return lowered[raw.lower()]
        except KeyError:
            raise ValueError("expected one of " + ", ".join(choices)) from None

    return parse


def _members(parse: Callable[[str], list[str]], *allowed: str) -> Callable[[str], list[str]]:
    """A list whose entries must be taken (case-insensitively) from ``allowed``."""
    canonical = {a.lower(): a for a in allowed}

    def check(raw: str) -> list[str]:
        out = []
        for item in parse(raw):
            if item.lower() not in canonical:
                raise ValueError(f"invalid entry {item!r}; expected " + ", ".join(allowed))
            out.append(canonical[item.lower()])
        return out

    return check


def _trusted_ips(raw: str) -> list[str]:
    out = []
    for item in _list(raw):
        if item != "unix:":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"invalid entry {item!r}; expected IPv4/IPv6 addresses, CIDR blocks or 'unix:'"
                ) from None
        out.append(item)
    return out


def _workers(raw: str) -> int | str:
    if raw.lower() == "auto":
        return "auto"
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError("expected 'auto' or a positive integer")
    return value


def _escape_endpoint(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _raw_endpoint(spec: str, flags: list[str]) -> Listener:
    """A listener written as a Twisted endpoint string, with optional Kong flags after it."""
    kind = spec.split(":", 1)[0]
    parts = re.split(r"(?<!\\):", spec)
    host = "0.0.0.0" if kind in ("tcp", "ssl") else ("::" if kind == "tcp6" else "")
    port = 0
    for i, part in enumerate(parts[1:]):
        key, eq, val = part.partition("=")
        if not eq and i == 0:
            key, val = ("address" if kind == "unix" else "port"), part
        val = val.replace("\\:", ":")
        if key == "port":
            if not val.isdigit() or int(val) > 65535:
                raise ValueError(f"invalid port {val!r} in endpoint {spec!r}")
            port = int(val)
        elif key in ("interface", "address"):
            host = val
    if kind in ("tcp", "tcp6", "ssl") and len(parts) < 2:
        raise ValueError(f"endpoint {spec!r} has no port")
    fset = frozenset(flags) | ({"ssl"} if kind == "ssl" else frozenset())
    listener = " ".join([spec, *flags])
    return Listener(spec, "ssl" in fset, fset, host, port, listener)


def _kong_listener(addr: str, flags: list[str]) -> Listener:
    """``addr:port [flags]`` as in Kong (``0.0.0.0:8000``, ``[::]:8443 ssl``, ``*:80``)."""
    host, sep, port_s = addr.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{addr!r} is not of the form address:port")
    if not port_s.isdigit() or int(port_s) > 65535:
        raise ValueError(f"invalid port {port_s!r}")
    port = int(port_s)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"invalid IPv6 address {host!r}") from None
        ipv6 = True
    elif host == "*":
        host, ipv6 = "0.0.0.0", False
    else:
        if ":" in host:
            raise ValueError(f"IPv6 address {host!r} must be written in brackets: [{host}]:{port}")
        if not re.match(r"^[A-Za-z0-9.-]+$", host):
            raise ValueError(f"invalid address {host!r}")
        ipv6 = False
    endpoint = f"{'tcp6' if ipv6 else 'tcp'}:{port}:interface={_escape_endpoint(host)}"
    fset = frozenset(flags)
    for flag in fset:
        if flag.startswith("backlog="):
            backlog = flag[8:]
            if not backlog.isdigit() or int(backlog) < 1:
                raise ValueError(f"invalid backlog {flag!r}")
            endpoint += f":backlog={backlog}"
    return Listener(endpoint, "ssl" in fset, fset, host, port, " ".join([addr, *flags]))


def parse_listeners(raw: str) -> list[Listener]:
    """Parse a listeners value: ``off``, Kong's ``addr:port [flags]`` or endpoint strings.

    Entries are comma-separated; ``off`` alone means no listener.

    :raises ValueError: an entry is malformed (the message says which).
    """
    if raw.strip().lower() == "off":
        return []
    out = []
    for entry in raw.split(","):
        words = entry.split()
        if not words:
            continue
        head, flags = words[0], words[1:]
        for flag in flags:
            if flag not in _LISTENER_FLAGS and not flag.startswith(_LISTENER_KV_FLAGS):
                raise ValueError(f"unknown flag {flag!r} in {entry.strip()!r}")
        if head.startswith(_ENDPOINT_PREFIXES):
            out.append(_raw_endpoint(head, flags))
        else:
            out.append(_kong_listener(head, flags))
    return out


# --------------------------------------------------------------------------- properties


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


# --------------------------------------------------------------------------- Config


class Config:
    """The parsed configuration: one read-only attribute per property.

    Build it with :func:`load_config`.
    """

    def __init__(self, values: Mapping[str, Any], raw: Mapping[str, str | None]) -> None:
        d = self.__dict__
        d.update(values)
        d["_raw"] = dict(raw)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Config is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Config is read-only")

    def __repr__(self) -> str:
        return f"<Config database={self.database!r} prefix={self.prefix!r}>"

    def get(self, name: str, default: Any = None) -> Any:
        """Return the parsed value of property ``name`` (``default`` if unknown)."""
        return self.__dict__.get(name, default) if name in PROPERTIES else default

    def worker_count(self) -> int:
        """``worker_processes`` resolved (``auto`` = number of CPUs)."""
        if self.worker_processes == "auto":
            return os.cpu_count() or 1
        return int(self.worker_processes)

    def as_dict(self, redact: bool = True) -> dict[str, Any]:
        """A JSON-ready view (Kong's ``configuration`` in ``GET /``).

        Listener properties are shown as written; ``<name>ers`` (e.g.
        ``proxy_listeners``) lists them parsed, as Kong does.

        :param redact: replace secrets (``pg_password`` ...) with ``******``.
        """
        out: dict[str, Any] = {}
        for name, prop in PROPERTIES.items():
            value = self.__dict__[name]
            if prop.parse is _LISTENERS:
                out[name] = [lis.listener for lis in value] or ["off"]
                out[name[: -len("_listen")] + "_listeners"] = [lis.describe() for lis in value]
            elif redact and prop.secret and value is not None:
                out[name] = REDACTED
            else:
                out[name] = list(value) if isinstance(value, list) else value
        return out


# --------------------------------------------------------------------------- loading

_LINE_RE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$")


def parse_conf_text(text: str, source: str = "<config>") -> dict[str, str]:
    """Parse kong.conf text into ``{property: raw value}``.

    ``#`` starts a comment unless escaped as ``\\#``; names are lower-cased.

    :raises ConfigError: a line is not ``key = value``.
    """
    out: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = re.sub(r"(?<!\\)#.*", "", line).replace("\\#", "#")
        if not line.strip():
            continue
        match = _LINE_RE.match(line)
        if match is None:
            raise ConfigError(f"{source}:{lineno}: expected 'key = value', got {line.strip()!r}")
        out[match.group(1).lower()] = match.group(2)
    return out


def _read_file(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"could not read configuration file {path}: {exc.strerror}") from None
    return parse_conf_text(text, path)


def _parse_value(name: str, raw: str | None, source: str) -> Any:
    prop = PROPERTIES[name]
    if raw is not None and raw.strip() not in ("", "NONE"):
        try:
            return prop.parse(raw.strip())
        except ValueError as exc:
            raise ConfigError(f"{name}{source} has an invalid value {raw!r}: {exc}") from None
    if not prop.nullable:
        raise ConfigError(f"{name}{source} must have a value (got {raw!r})")
    return [] if prop.many else None


def _check(values: dict[str, Any]) -> None:
    """Cross-property rules from Kong's conf_loader."""
    for prefix in ("", "admin_", "status_"):
        cert, key = values[f"{prefix}ssl_cert"], values[f"{prefix}ssl_cert_key"]
        if cert and not key:
            raise ConfigError(f"{prefix}ssl_cert_key must be specified")
        if key and not cert:
            raise ConfigError(f"{prefix}ssl_cert must be specified")
        if len(cert) != len(key):
            raise ConfigError(
                f"{prefix}ssl_cert was specified {len(cert)} times while "
                f"{prefix}ssl_cert_key was specified {len(key)} times"
            )
    if values["ssl_cipher_suite"] == "custom" and not values["ssl_ciphers"]:
        raise ConfigError("ssl_ciphers must be specified when ssl_cipher_suite is custom")
    if values["client_ssl"]:
        for name in ("client_ssl_cert", "client_ssl_cert_key"):
            if values[name] is None:
                raise ConfigError(f"{name} must be specified (client_ssl is on)")


def load_config(
    path: str | None = None,
    env: Mapping[str, str] = os.environ,
    overrides: Mapping[str, str] | None = None,
    *,
    search_default_paths: bool = True,
) -> Config:
    """Load the configuration.

    :param path: a kongtx.conf (kong.conf syntax). When None, the first
        existing file of :data:`DEFAULT_PATHS` is used (unless
        ``search_default_paths`` is false), else defaults only.
    :param env: environment; ``KONG_<PROPERTY>`` then ``KONGTX_<PROPERTY>``
        override the file. Unknown variables are ignored.
    :param overrides: raw values that win over everything (command line).
    :raises ConfigError: unknown property, unreadable file or bad value; the
        message names the setting and the value.
    """
    sources: dict[str, tuple[str | None, str]] = {
        name: (prop.default, "") for name, prop in PROPERTIES.items()
    }
    if path is None and search_default_paths:
        path = next((p for p in DEFAULT_PATHS if os.path.isfile(p)), None)
    if path is not None:
        for name, raw in _read_file(path).items():
            if name not in PROPERTIES:
                raise ConfigError(f"unknown configuration property {name!r} in {path}")
            sources[name] = (raw, f" (in {path})")
    for env_prefix in ("KONG_", "KONGTX_"):
        for name in PROPERTIES:
            var = env_prefix + name.upper()
            if var in env:
                sources[name] = (env[var], f" (from environment {var})")
    for name, raw in (overrides or {}).items():
        if name not in PROPERTIES:
            raise ConfigError(f"unknown configuration property {name!r}")
        sources[name] = (raw, "")
    values = {name: _parse_value(name, raw, src) for name, (raw, src) in sources.items()}
    _check(values)
    return Config(values, {name: raw for name, (raw, _src) in sources.items()})
