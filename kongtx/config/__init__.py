"""kongtx configuration: ``kongtx.conf`` + environment + overrides -> :class:`Config`.

Kong's ``kong.conf`` rules (``kong/conf_loader``): ``key = value`` lines, ``#``
comments, ``on``/``off`` booleans, comma lists, ``NONE`` or empty for unset.
Precedence, lowest first: built-in defaults, the file, ``KONG_<PROPERTY>``
(drop-in compatibility), ``KONGTX_<PROPERTY>``, then explicit overrides (the
twistd command line).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from kongtx.config._listeners import DEFAULT_BACKLOG, Listener, parse_listeners
from kongtx.config._parsers import parse_size
from kongtx.config._properties import LISTENERS, PROPERTIES, Properties
from kongtx.config._properties import Property as Property  # re-exported
from kongtx.errors import ConfigError

__all__ = [
    "DEFAULT_BACKLOG",
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


# --------------------------------------------------------------------------- Config


#: The embedded SQLite database's file name, in the prefix.
SQLITE_FILE = "kongtx.db"


class Config(Properties):
    """The parsed configuration: one typed, read-only attribute per property.

    The attributes, their types and defaults are declared once, in
    :class:`~kongtx.config._properties.Properties`. Build it with
    :func:`load_config`.
    """

    _raw: dict[str, str | None]

    def __init__(self, values: Mapping[str, Any], raw: Mapping[str, str | None]) -> None:
        missing = PROPERTIES.keys() - values.keys()
        if missing:
            raise ConfigError(f"Config needs every property; missing {sorted(missing)}")
        d = self.__dict__
        d.update(values)
        d["_raw"] = dict(raw)

    @property
    def raw(self) -> dict[str, str | None]:
        """The raw values (as written) the properties were parsed from."""
        return dict(self._raw)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Config is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Config is read-only")

    def __repr__(self) -> str:
        return f"<Config database={self.database!r} prefix={self.prefix!r}>"

    def get(self, name: str, default: Any = None) -> Any:
        """Return the parsed value of property ``name`` (``default`` if unknown)."""
        return self.__dict__.get(name, default) if name in PROPERTIES else default

    @property
    def sqlite_path(self) -> str:
        """The embedded database's file (``database = sqlite``): ``<prefix>/kongtx.db``."""
        return os.path.join(self.prefix, SQLITE_FILE)

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
            if prop.parse is LISTENERS:
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
