"""Tests for kongtx.config: kong.conf parsing, precedence, listeners, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kongtx.config import PROPERTIES, Config, Listener, load_config, parse_listeners, parse_size
from kongtx.errors import ConfigError


def _load(tmp_path: Path | None = None, text: str | None = None, **kw: object) -> object:
    path = None
    if text is not None:
        assert tmp_path is not None
        conf = tmp_path / "kongtx.conf"
        conf.write_text(text)
        path = str(conf)
    kw.setdefault("env", {})
    return load_config(path, search_default_paths=False, **kw)  # type: ignore[arg-type]


def test_defaults() -> None:
    """Without file, env or overrides the kongtx defaults apply."""
    c = _load()
    assert c.database == "sqlite"
    assert c.prefix == "./kongtx-prefix"
    assert c.pg_port == 5432 and c.pg_host == "127.0.0.1" and c.pg_password is None
    assert c.pg_timeout == 5000
    assert c.db_update_frequency == 5.0
    assert c.plugins == ["bundled"]
    assert c.headers == ["server_tokens", "latency_tokens", "X-Kong-Request-Id"]
    assert c.trusted_ips == []
    assert c.real_ip_recursive is False
    assert c.nginx_http_client_max_body_size == 0
    assert c.nginx_admin_client_max_body_size == 10 * 1024 * 1024
    assert c.worker_processes == 1 and c.worker_count() == 1
    assert c.proxy_frontend == "native"
    assert [lis.endpoint for lis in c.proxy_listen] == [
        "tcp:8000:interface=0.0.0.0:backlog=511",
        "tcp:8443:interface=0.0.0.0:backlog=511",
    ]
    assert [lis.ssl for lis in c.proxy_listen] == [False, True]
    assert c.admin_listen == [
        Listener("tcp:8001:interface=127.0.0.1:backlog=511", False, frozenset(), "127.0.0.1", 8001,
                 "127.0.0.1:8001")
    ]  # fmt: skip
    assert c.status_listen == []


def test_file_parsing(tmp_path: Path) -> None:
    """Comments, spacing, case of keys, booleans, sizes, lists and NONE are parsed."""
    c = _load(
        tmp_path,
        text="""
# a comment
DATABASE = postgres      # trailing comment
pg_host=db.example
pg_port = 6543
pg_password = p\\#ss
real_ip_recursive = on
allow_debug_header = true
nginx_http_client_max_body_size = 8m
client_body_buffer_size = 16K
trusted_ips = 10.0.0.0/8, ::1 , unix:
plugins = key-auth,  rate-limiting
pg_schema = NONE
error_template_html =
ssl_protocols = TLSv1.3
worker_processes = auto
""",
    )
    assert c.database == "postgres"
    assert c.pg_host == "db.example"
    assert c.pg_port == 6543
    assert c.pg_password == "p#ss"
    assert c.real_ip_recursive is True and c.allow_debug_header is True
    assert c.nginx_http_client_max_body_size == 8 * 1024 * 1024
    assert c.client_body_buffer_size == 16 * 1024
    assert c.trusted_ips == ["10.0.0.0/8", "::1", "unix:"]
    assert c.plugins == ["key-auth", "rate-limiting"]
    assert c.pg_schema is None and c.error_template_html is None
    assert c.ssl_protocols == ["TLSv1.3"]
    assert c.worker_processes == "auto" and c.worker_count() >= 1


def test_off_lists() -> None:
    """``off`` empties plugins/headers lists and disables listeners."""
    c = _load(overrides={"plugins": "off", "headers": "off", "admin_listen": "off"})
    assert c.plugins == [] and c.headers == [] and c.admin_listen == []


def test_precedence(tmp_path: Path) -> None:
    """defaults < file < KONG_* < KONGTX_* < overrides."""
    text = "pg_host = file\npg_user = file\npg_database = file\npg_port = 1111\n"
    env = {
        "KONG_PG_USER": "kong-env",
        "KONG_PG_DATABASE": "kong-env",
        "KONGTX_PG_DATABASE": "kongtx-env",
        "KONG_PG_PORT": "2222",
        "KONGTX_PG_PORT": "3333",
        "KONGTX_NOT_A_PROPERTY": "ignored",
    }
    c = _load(tmp_path, text=text, env=env, overrides={"pg_port": "4444"})
    assert c.pg_host == "file"
    assert c.pg_user == "kong-env"
    assert c.pg_database == "kongtx-env"
    assert c.pg_port == 4444
    assert c.pg_timeout == 5000


def test_unknown_property_in_file(tmp_path: Path) -> None:
    """An unknown key in the file is an error naming it."""
    with pytest.raises(ConfigError, match="'pg_hots'"):
        _load(tmp_path, text="pg_hots = x\n")


def test_unknown_override() -> None:
    """An unknown override is an error naming it."""
    with pytest.raises(ConfigError, match="'nope'"):
        _load(overrides={"nope": "1"})


def test_malformed_line(tmp_path: Path) -> None:
    """A line without '=' is reported with its line number."""
    with pytest.raises(ConfigError, match=r"kongtx\.conf:2:.*just words"):
        _load(tmp_path, text="database = off\njust words\n")


def test_missing_file(tmp_path: Path) -> None:
    """An unreadable file is a ConfigError naming the path."""
    with pytest.raises(ConfigError, match="missing.conf"):
        load_config(str(tmp_path / "missing.conf"), env={})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("database", "mysql"),
        ("pg_port", "abc"),
        ("pg_port", "70000"),
        ("pg_timeout", "-1"),
        ("pg_ssl", "maybe"),
        ("nginx_http_client_max_body_size", "10x"),
        ("db_update_frequency", "soon"),
        ("proxy_listen", "0.0.0.0"),
        ("proxy_listen", "0.0.0.0:8000 sslx"),
        ("proxy_listen", "::1:8000"),
        ("admin_listen", "[zz]:8001"),
        ("admin_listen", "127.0.0.1:99999"),
        ("headers", "X-Bogus"),
        ("headers", "off, Server"),
        ("trusted_ips", "10.0.0.0/8, not-an-ip"),
        ("worker_processes", "0"),
        ("proxy_frontend", "klein"),
        ("ssl_protocols", "TLSv1.1"),
        ("log_level", "loud"),
        ("pg_host", "NONE"),
    ],
)
def test_bad_value_names_setting_and_value(name: str, value: str) -> None:
    """Every bad value raises ConfigError naming the setting and the value."""
    with pytest.raises(ConfigError) as info:
        _load(overrides={name: value})
    message = str(info.value)
    assert message.startswith(name)
    assert repr(value) in message


def test_bad_env_value_names_variable() -> None:
    """A bad value from the environment names the variable it came from."""
    with pytest.raises(ConfigError, match="pg_port.*KONGTX_PG_PORT.*'x'"):
        _load(env={"KONGTX_PG_PORT": "x"})


def test_bad_file_value_names_file(tmp_path: Path) -> None:
    """A bad value from the file names the file."""
    with pytest.raises(ConfigError, match=r"pg_ssl \(in .*kongtx\.conf\).*'sometimes'"):
        _load(tmp_path, text="pg_ssl = sometimes\n")


def test_cert_and_key_go_together() -> None:
    """ssl_cert without ssl_cert_key (and the other way) is rejected."""
    with pytest.raises(ConfigError, match="ssl_cert_key must be specified"):
        _load(overrides={"ssl_cert": "/a.crt"})
    with pytest.raises(ConfigError, match="admin_ssl_cert must be specified"):
        _load(overrides={"admin_ssl_cert_key": "/a.key"})
    with pytest.raises(ConfigError, match="ssl_ciphers must be specified"):
        _load(overrides={"ssl_cipher_suite": "custom"})
    with pytest.raises(ConfigError, match="client_ssl_cert must be specified"):
        _load(overrides={"client_ssl": "on"})
    c = _load(overrides={"ssl_cert": "/a.crt, /b.crt", "ssl_cert_key": "/a.key, /b.key"})
    assert c.ssl_cert == ["/a.crt", "/b.crt"] and c.ssl_cert_key == ["/a.key", "/b.key"]


def test_kong_listeners_with_flags() -> None:
    """Kong's ``addr:port flags`` form, including backlog, ``*`` and IPv6."""
    ls = parse_listeners("0.0.0.0:8000 reuseport backlog=16384, [::]:8443 http2 ssl, *:80, [::1]:0")
    assert ls[0].endpoint == "tcp:8000:interface=0.0.0.0:backlog=16384"
    assert ls[0].flags == frozenset({"reuseport", "backlog=16384"})
    assert ls[0].backlog == 16384 and not ls[0].ssl
    assert ls[1].endpoint == "tcp6:8443:interface=\\:\\::backlog=511"
    assert ls[1].ssl and ls[1].needs_tls_wrap and ls[1].host == "::" and ls[1].port == 8443
    assert ls[2].host == "0.0.0.0" and ls[2].port == 80
    assert ls[3].endpoint == "tcp6:0:interface=\\:\\:1:backlog=511"
    assert ls[1].describe()["http2"] is True and ls[1].describe()["ip"] == "::"


def test_raw_endpoint_listeners() -> None:
    """Twisted endpoint strings pass through, with host/port read back and optional flags."""
    ls = parse_listeners("tcp:8000:interface=127.0.0.1, tcp:port=9000 ssl, unix:/tmp/k.sock")
    assert ls[0] == Listener("tcp:8000:interface=127.0.0.1:backlog=511", False, frozenset(), "127.0.0.1",
                             8000, "tcp:8000:interface=127.0.0.1")  # fmt: skip
    assert ls[1].endpoint == "tcp:port=9000:backlog=511" and ls[1].ssl and ls[1].port == 9000
    assert ls[2].host == "/tmp/k.sock" and ls[2].port == 0
    own_tls = parse_listeners("ssl:8443:privateKey=k.pem")[0]
    assert own_tls.ssl and not own_tls.needs_tls_wrap


def test_listener_endpoints_are_valid_for_twisted() -> None:
    """Generated endpoint strings (IPv4 and escaped IPv6) parse as Twisted endpoints."""
    from twisted.internet.endpoints import TCP6ServerEndpoint, serverFromString
    from twisted.internet.testing import MemoryReactor

    reactor = MemoryReactor()
    ep = serverFromString(reactor, parse_listeners("[::1]:8000 backlog=7")[0].endpoint)
    assert isinstance(ep, TCP6ServerEndpoint)
    assert ep._interface == "::1" and ep._port == 8000 and ep._backlog == 7


def test_listen_backlog_defaults_to_nginx_511() -> None:
    """Every listener gets nginx's backlog 511 unless ``backlog=N`` says otherwise
    (Twisted's default of 50 lost connections in bursts); raw endpoints too."""
    from twisted.internet.endpoints import serverFromString
    from twisted.internet.testing import MemoryReactor

    reactor = MemoryReactor()
    for raw, backlog in [
        ("127.0.0.1:8000", 511),
        ("127.0.0.1:8000 backlog=2048", 2048),
        ("tcp:8000:interface=127.0.0.1", 511),
        ("tcp:8000:backlog=9", 9),
        ("tcp:8000 backlog=77", 77),
    ]:
        ep = serverFromString(reactor, parse_listeners(raw)[0].endpoint)
        assert ep._backlog == backlog, raw
    with pytest.raises(ValueError):
        parse_listeners("tcp:8000 backlog=x")


@pytest.mark.parametrize("value", ["off", "OFF", " off "])
def test_listeners_off(value: str) -> None:
    """``off`` means no listener."""
    assert parse_listeners(value) == []


def test_sizes() -> None:
    """nginx sizes: bytes, k, m, g (any case)."""
    assert parse_size("0") == 0
    assert parse_size("512") == 512
    assert parse_size("8k") == 8192
    assert parse_size("10M") == 10 * 1024**2
    assert parse_size("1g") == 1024**3
    with pytest.raises(ValueError):
        parse_size("1.5m")


def test_as_dict_redacts_secrets() -> None:
    """as_dict hides secrets unless asked not to, and lists listeners as Kong does."""
    c = _load(overrides={"pg_password": "hunter2", "declarative_config_string": "{}"})
    shown = c.as_dict()
    assert shown["pg_password"] == "******"
    assert shown["declarative_config_string"] == "******"
    assert "hunter2" not in repr(shown)
    assert c.as_dict(redact=False)["pg_password"] == "hunter2"
    assert shown["proxy_listen"] == ["0.0.0.0:8000", "0.0.0.0:8443 ssl"]
    assert shown["proxy_listeners"][1]["ssl"] is True
    assert shown["status_listen"] == ["off"] and shown["status_listeners"] == []
    assert set(PROPERTIES) <= set(shown)


def test_config_is_read_only() -> None:
    """Config attributes cannot be assigned."""
    c = _load()
    with pytest.raises(AttributeError):
        c.database = "off"  # type: ignore[misc]


def test_default_paths_are_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no path, the first existing default path is read."""
    conf = tmp_path / "found.conf"
    conf.write_text("database = off\n")
    monkeypatch.setattr("kongtx.config.DEFAULT_PATHS", (str(tmp_path / "nope"), str(conf)))
    assert load_config(env={}).database == "off"
    assert load_config(env={}, search_default_paths=False).database == "sqlite"


def test_example_file_documents_every_default(tmp_path: Path) -> None:
    """etc/kongtx.conf lists every property, commented out, with its real default."""
    import re

    text = (Path(__file__).parents[2] / "etc" / "kongtx.conf").read_text()
    documented = {
        name: re.sub(r"(^|\s+)#.*$", "", value).strip()
        for name, value in re.findall(r"^#([a-z0-9_]+) =(.*)$", text, re.MULTILINE)
    }
    assert set(documented) == set(PROPERTIES)
    for name, prop in PROPERTIES.items():
        assert documented[name] == (prop.default or ""), name
    # and uncommented, the same text loads as the defaults
    live = re.sub(r"^#([a-z0-9_]+ =)", r"\1", text, flags=re.MULTILINE)
    assert _load(tmp_path, text=live).as_dict() == _load().as_dict()


def test_every_property_is_declared_once_with_a_type() -> None:
    """Config's attributes are the typed declarations of Properties; each default is stated there."""
    from kongtx.config._properties import Properties

    annotations = Properties.__annotations__
    assert list(annotations) == list(PROPERTIES)
    config = load_config(env={}, search_default_paths=False)
    assert config.proxy_frontend == "native" and config.real_ip_header == "X-Real-IP"
    assert config.pg_timeout == 5000 and config.port_maps == [] and config.pg_password is None
    assert config.raw["pg_timeout"] == "5000"
    with pytest.raises(AttributeError):
        config.pg_timeout = 1  # type: ignore[misc]
    with pytest.raises(ConfigError, match="missing"):
        Config({"prefix": "x"}, {})
