"""Unit tests for the core entities and the registry."""

from __future__ import annotations

import pytest

from kongtx.errors import SchemaViolation
from kongtx.schema import registry as global_registry
from kongtx.schema.checks import AtLeastOneOf
from kongtx.schema.fields import Boolean, Integer, Number, Record, String
from tests.unit.schema.conftest import make_pair

UUID = "5a2e5e2a-7c1e-4f0a-9a7e-0a4b2f4c1d11"
NOW = 1704067200.0  # 2024-01-01T00:00:00Z, the certificates' reference time


def build(reg, name, data, op="insert", now=NOW):
    ent = reg.get(name)
    return ent.fill_defaults(ent.process_input(data, op), now)


def fails(reg, name, row):
    with pytest.raises(SchemaViolation) as info:
        reg.get(name).validate(row)
    return info.value


def test_registration_order_parents_first(reg):
    """Every foreign reference points to an entity registered earlier."""
    seen = set()
    for ent in reg.all():
        for foreign in ent.foreign_fields().values():
            assert foreign.reference in seen, (ent.name, foreign.reference)
        seen.add(ent.name)
    assert {
        "services",
        "routes",
        "consumers",
        "plugins",
        "certificates",
        "snis",
        "ca_certificates",
        "upstreams",
        "targets",
    } <= seen
    assert global_registry.get("services").endpoint_key == "name"
    with pytest.raises(KeyError):
        reg.get("nope")
    assert reg.has("routes") and "routes" in reg and not reg.has("nope")
    assert reg.by_admin_path("/services") is reg.get("services")


def test_register_credential_entity(reg):
    """A plugin-style credential entity registers after its parent; duplicates fail."""
    from kongtx.schema.entity import Entity
    from kongtx.schema.fields import Foreign

    cred = Entity(
        "keyauth_credentials",
        {
            "consumer": Foreign("consumers", required=True, on_delete="cascade"),
            "key": String(unique=True, auto=True),
        },
        admin_path="/key-auths",
        admin_nested_name="key-auth",
        endpoint_key="key",
        ttl=True,
    )
    reg.register(cred)
    assert reg.all()[-1] is cred
    with pytest.raises(ValueError):
        reg.register(cred)
    orphan = Entity("orphans", {"parent": Foreign("nowhere")})
    with pytest.raises(ValueError):
        reg.register(orphan)


def test_every_core_entity_has_tags_and_id(reg):
    """Core entities carry id (uuid auto) and tags."""
    for ent in reg.all():
        assert ent.fields["id"].uuid and ent.fields["id"].auto
        assert "tags" in ent.fields


# -- services -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://example.com/foo", ("https", "example.com", 443, "/foo")),
        ("http://example.com", ("http", "example.com", 80, None)),
        ("//example.com:443", ("https", "example.com", 443, None)),
        ("//example.com", ("http", "example.com", 80, None)),
        ("//example.com:80/x", ("http", "example.com", 80, "/x")),
        ("https://u:p@example.com:8443/a/b?q=1#f", ("https", "example.com", 8443, "/a/b")),
        ("grpc://h:9000", ("grpc", "h", 9000, None)),
        ("http://[::1]:81/a", ("http", "[::1]", 81, "/a")),
    ],
)
def test_service_url_shorthand(reg, url, expected):
    """url is split into protocol, host, port and path."""
    row = build(reg, "services", {"url": url})
    assert (row["protocol"], row["host"], row["port"], row["path"]) == expected
    assert "url" not in row
    reg.get("services").validate(row)


def test_service_url_as_kong_parses_it(reg):
    """LuaSocket's parse: without ``//`` there is no host; url wins over host/port/path."""
    ent = reg.get("services")
    row = ent.process_input(
        {"url": "http://a:81", "host": "b", "port": 82, "path": "/p", "protocol": "https"},
        "insert",
    )
    assert (row["protocol"], row["host"], row["port"], row["path"]) == ("http", "a", 81, None)
    for url, fields in (
        (
            "invalid url",
            {"host": "required field missing", "path": "should start with: /"},
        ),
        ("example.com", {"host": "required field missing", "path": "should start with: /"}),
        ("http://", {"host": "required field missing"}),
        ("http://a:abc", {"port": "expected an integer"}),
    ):
        with pytest.raises(SchemaViolation) as info:
            ent.validate(build(reg, "services", {"url": url}))
        assert info.value.fields == fields, url
    with pytest.raises(SchemaViolation) as info:
        ent.process_input({"url": 5}, "insert")
    assert info.value.fields == {"url": "expected a string"}


def test_service_defaults_and_rules(reg):
    """Services get Kong's defaults; tls fields need https/tls; path not for tcp."""
    row = build(reg, "services", {"host": "example.com"})
    assert (
        row["protocol"],
        row["port"],
        row["retries"],
        row["connect_timeout"],
        row["enabled"],
    ) == ("http", 80, 5, 60000, True)
    reg.get("services").validate(row)
    err = fails(reg, "services", {**row, "tls_verify": True})
    assert err.fields == {
        "tls_verify": "value must be null",
        "@entity": ["failed conditional validation given value of field 'protocol'"],
    }
    reg.get("services").validate({**row, "protocol": "https", "tls_verify": True})
    err = fails(reg, "services", {**row, "protocol": "tcp", "path": "/x"})
    assert err.fields["path"] == "value must be null"
    err = fails(reg, "services", {**row, "host": None, "connect_timeout": 0})
    assert err.fields == {
        "host": "required field missing",
        "connect_timeout": "value should be between 1 and 2147483646",
    }
    assert err.message == (
        "2 schema violations (connect_timeout: value should be between "
        "1 and 2147483646; host: required field missing)"
    )


# -- routes -------------------------------------------------------------------


def test_route_defaults(reg):
    """Routes get Kong's defaults."""
    row = build(reg, "routes", {"paths": ["/"]})
    assert row["protocols"] == ["http", "https"]
    assert (
        row["https_redirect_status_code"],
        row["regex_priority"],
        row["strip_path"],
        row["path_handling"],
        row["preserve_host"],
        row["request_buffering"],
        row["response_buffering"],
    ) == (426, 0, True, "v0", False, True, True)
    reg.get("routes").validate(row)


def test_route_needs_a_matching_attribute(reg):
    """http/https routes need methods, hosts, headers, paths (or snis for https)."""
    row = build(reg, "routes", {})
    assert fails(reg, "routes", row).message == (
        "schema violation (must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' "
        "when 'protocols' is 'https')"
    )
    err = fails(reg, "routes", {**row, "protocols": ["http"]})
    assert err.fields == {
        "@entity": [
            "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"
        ]
    }
    err = fails(reg, "routes", {**row, "protocols": ["tcp"]})
    assert err.fields == {
        "@entity": [
            "must set one of 'sources', 'destinations', 'snis' when 'protocols' is "
            "'tcp', 'tls' or 'udp'"
        ]
    }


def test_route_protocol_rules(reg):
    """Protocol subsets exclude each other; snis/sources/strip_path per protocol."""
    row = build(reg, "routes", {"hosts": ["a.com"]})
    err = fails(reg, "routes", {**row, "protocols": ["http", "tcp"]})
    assert err.fields == {
        "protocols": "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp')"
    }
    err = fails(reg, "routes", {**row, "protocols": ["http"], "snis": ["a.com"]})
    assert err.fields == {
        "snis": "length must be 0",
        "@entity": [
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or "
            "'tls_passthrough'"
        ],
    }
    err = fails(reg, "routes", {**row, "sources": [{"ip": "10.0.0.1"}]})
    assert err.fields == {"sources": "cannot set 'sources' when 'protocols' is 'http' or 'https'"}
    err = fails(reg, "routes", {**row, "protocols": []})
    assert err.fields == {"protocols": "length must be at least 1"}
    stream = build(reg, "routes", {"protocols": ["tcp"], "destinations": [{"port": 80}]})
    reg.get("routes").validate(stream)
    err = fails(reg, "routes", {**stream, "paths": ["/x"]})
    assert err.fields == {
        "paths": "cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"
    }


def test_grpc_route_strip_path(reg):
    """gRPC routes default strip_path to false and refuse true."""
    row = build(reg, "routes", {"protocols": ["grpc"], "paths": ["/"]})
    assert row["strip_path"] is False
    reg.get("routes").validate(row)
    err = fails(reg, "routes", {**row, "strip_path": True})
    assert err.fields == {
        "strip_path": "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"
    }


def test_route_field_messages(reg):
    """Route paths, methods and headers keep Kong's messages and positions."""
    row = build(
        reg,
        "routes",
        {
            "paths": ["/ok", "bad"],
            "methods": ["GET", "get"],
            "headers": {"host": ["x"]},
        },
    )
    err = fails(reg, "routes", row)
    assert err.fields == {
        "paths": [None, "should start with: / (fixed path) or ~/ (regex path)"],
        "methods": [None, "invalid value: get"],
        "headers": {
            "host": "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
        },
    }
    assert err.message.startswith("3 schema violations (headers.host: ")
    assert "methods.2: invalid value: get" in err.message
    assert "paths.2: should start with" in err.message


def test_route_sets_are_deduplicated(reg):
    """Set fields drop duplicates on input."""
    row = build(reg, "routes", {"methods": ["GET", "GET"], "protocols": ["http", "http"]})
    assert row["methods"] == ["GET"] and row["protocols"] == ["http"]


# -- consumers ----------------------------------------------------------------


def test_consumer_needs_username_or_custom_id(reg):
    """Consumers need username or custom_id."""
    row = build(reg, "consumers", {})
    err = fails(reg, "consumers", row)
    assert err.message == (
        "schema violation (at least one of these fields must be non-empty: 'custom_id', 'username')"
    )
    reg.get("consumers").validate({**row, "custom_id": "c1"})
    assert reg.get("consumers").unique_fields() == ["username", "custom_id"]


# -- plugins ------------------------------------------------------------------


@pytest.fixture
def plugin_reg(reg):
    reg.register_plugin_schema(
        "tiny-limit",
        Record(
            {
                "minute": Number(gt=0),
                "policy": String(default="local"),
                "redis": Record({"host": String(), "port": Integer(default=6379)}, required=True),
                "fault_tolerant": Boolean(default=True),
            }
        ),
        no_consumer=True,
        entity_checks=[AtLeastOneOf(["config.minute"])],
    )
    reg.register_plugin_schema("stream-ok", Record({}), protocols=["tcp", "tls"])
    return reg


def test_plugin_config_defaults_recursive(plugin_reg):
    """config defaults are filled recursively, protocols default per plugin."""
    row = build(plugin_reg, "plugins", {"name": "tiny-limit", "config": {"minute": 5}})
    assert row["config"] == {
        "minute": 5,
        "policy": "local",
        "redis": {"host": None, "port": 6379},
        "fault_tolerant": True,
    }
    assert row["protocols"] == ["grpc", "grpcs", "http", "https"]
    assert row["enabled"] is True and row["consumer"] is None
    plugin_reg.get("plugins").validate(row)
    other = build(plugin_reg, "plugins", {"name": "stream-ok"})
    assert other["protocols"] == ["tcp", "tls"] and other["config"] == {}
    plugin_reg.get("plugins").validate(other)


def test_plugin_config_errors(plugin_reg):
    """Config errors nest under config; unknown keys; no_consumer; plugin checks."""
    row = build(
        plugin_reg,
        "plugins",
        {
            "name": "tiny-limit",
            "config": {"minute": "x", "bogus": 1},
            "consumer": {"id": UUID},
        },
    )
    err = fails(plugin_reg, "plugins", row)
    assert err.fields == {
        "config": {"minute": "expected a number", "bogus": "unknown field"},
        "consumer": "value must be null",
    }
    assert err.message == (
        "3 schema violations (config.bogus: unknown field; "
        "config.minute: expected a number; consumer: value must be null)"
    )
    row = build(plugin_reg, "plugins", {"name": "tiny-limit"})
    assert fails(plugin_reg, "plugins", row).fields == {
        "@entity": ["at least one of these fields must be non-empty: 'config.minute'"]
    }
    row = build(
        plugin_reg,
        "plugins",
        {"name": "tiny-limit", "config": {"minute": 1}, "protocols": ["tcp"]},
    )
    assert fails(plugin_reg, "plugins", row).fields == {
        "protocols": ["expected one of: grpc, grpcs, http, https"]
    }


def test_plugin_not_enabled(plugin_reg):
    """Unknown or disabled plugins fail on name with Kong's message."""
    message = "plugin '%s' not enabled; add it to the 'plugins' configuration property"
    row = build(plugin_reg, "plugins", {"name": "nope"})
    assert fails(plugin_reg, "plugins", row).fields == {"name": message % "nope"}
    assert plugin_reg.enabled_plugins() == ["stream-ok", "tiny-limit"]
    plugin_reg.set_enabled_plugins(["stream-ok"])
    assert plugin_reg.enabled_plugins() == ["stream-ok"]
    row = build(plugin_reg, "plugins", {"name": "tiny-limit", "config": {"minute": 1}})
    assert fails(plugin_reg, "plugins", row).fields == {"name": message % "tiny-limit"}
    plugin_reg.set_enabled_plugins(None)
    row = build(plugin_reg, "plugins", {"name": "tiny-limit", "config": {"minute": 1}})
    plugin_reg.get("plugins").validate(row)


def test_plugin_form_and_patch(plugin_reg):
    """Form input is typed through the plugin's config; PATCH merges config."""
    ent = plugin_reg.get("plugins")
    data = ent.coerce_form(
        {"name": "tiny-limit", "config": {"minute": "10", "fault_tolerant": "false"}}
    )
    assert data["config"] == {"minute": 10, "fault_tolerant": False}
    row = build(plugin_reg, "plugins", data)
    merged = ent.merge_update(row, {"config": {"minute": 20}})
    assert merged["config"]["minute"] == 20 and merged["config"]["policy"] == "local"
    assert merged["config"]["fault_tolerant"] is False
    ent.validate(merged)
    assert ent.cache_key == ["name", "route", "service", "consumer"]
    assert ent.endpoint_key == "instance_name"


def test_plugin_schema_json(plugin_reg):
    """The plugin schema JSON lists consumer, protocols and config."""
    body = plugin_reg.plugin_schema("tiny-limit").to_schema_json()
    names = [list(f)[0] for f in body["fields"]]
    assert names == ["consumer", "protocols", "config"]
    assert body["fields"][0]["consumer"]["eq"] is None
    config = body["fields"][2]["config"]
    assert config["type"] == "record" and config["required"] is True
    assert config["fields"][1] == {"policy": {"type": "string", "default": "local"}}
    with pytest.raises(KeyError):
        plugin_reg.plugin_schema("nope")


# -- certificates, snis, ca_certificates --------------------------------------


def test_certificate_pairs(reg, rsa_pair, rsa_pair2, ec_pair):
    """cert/key must match; the alternative pair must be of another key type."""
    cert, key = rsa_pair
    row = build(reg, "certificates", {"cert": cert, "key": key, "snis": ["a.com"]})
    reg.get("certificates").validate(row)
    assert reg.get("certificates").transient_fields == ["snis"]
    err = fails(reg, "certificates", {**row, "key": rsa_pair2[1]})
    assert err.fields == {"@entity": ["certificate does not match key"]}
    err = fails(reg, "certificates", {**row, "cert_alt": ec_pair[0]})
    assert err.fields == {
        "@entity": ["all or none of these fields must be set: 'cert_alt', 'key_alt'"]
    }
    reg.get("certificates").validate({**row, "cert_alt": ec_pair[0], "key_alt": ec_pair[1]})
    err = fails(reg, "certificates", {**row, "cert_alt": rsa_pair2[0], "key_alt": rsa_pair2[1]})
    assert err.fields == {
        "@entity": [
            "certificate and alternative certificate need to have different type (e.g. RSA and "
            "ECDSA), the provided certificates were both of the same type"
        ]
    }
    err = fails(
        reg,
        "certificates",
        {**row, "cert_alt": ec_pair[0], "key_alt": make_pair("ec")[1]},
    )
    assert err.fields == {"@entity": ["alternative certificate does not match key"]}
    err = fails(reg, "certificates", {**row, "snis": ["a.*.com"]})
    assert err.fields == {"snis": ["wildcard must be leftmost or rightmost character"]}


def test_snis(reg):
    """SNI names are wildcard hosts; certificate is required."""
    row = build(reg, "snis", {"name": "*.example.com", "certificate": {"id": UUID}})
    reg.get("snis").validate(row)
    err = fails(reg, "snis", {**row, "name": "10.0.0.1", "certificate": None})
    assert err.fields == {
        "name": "must not be an IP",
        "certificate": "required field missing",
    }
    assert reg.get("snis").foreign_fields()["certificate"].on_delete == "cascade"


def test_ca_certificates(reg, ca_pair, rsa_pair):
    """CA certs: one only, CA constraint, not expired; cert_digest computed."""
    ent = reg.get("ca_certificates")
    row = build(reg, "ca_certificates", {"cert": ca_pair[0]})
    assert len(row["cert_digest"]) == 64
    ent.validate(row)
    err = fails(reg, "ca_certificates", build(reg, "ca_certificates", {"cert": rsa_pair[0]}))
    assert err.fields == {
        "@entity": [
            'certificate does not appear to be a CA because it is missing the "CA" basic constraint'
        ]
    }
    err = fails(
        reg,
        "ca_certificates",
        build(reg, "ca_certificates", {"cert": ca_pair[0] + ca_pair[0]}),
    )
    assert err.fields == {"@entity": ["please submit only one certificate at a time"]}
    late = build(reg, "ca_certificates", {"cert": ca_pair[0]}, now=NOW + 400 * 86400)
    assert fails(reg, "ca_certificates", late).fields == {
        "@entity": ['certificate expired, "Not After" time is in the past']
    }


# -- upstreams and targets ----------------------------------------------------


def test_upstream_defaults(reg):
    """Upstreams get Kong's defaults including the full healthchecks tree."""
    row = build(reg, "upstreams", {"name": "backend"})
    assert (
        row["algorithm"],
        row["hash_on"],
        row["hash_fallback"],
        row["slots"],
        row["hash_on_cookie_path"],
        row["use_srv_name"],
    ) == ("round-robin", "none", "none", 10000, "/", False)
    hc = row["healthchecks"]
    assert hc["threshold"] == 0
    assert hc["active"] == {
        "type": "http",
        "timeout": 1,
        "concurrency": 10,
        "http_path": "/",
        "https_sni": None,
        "https_verify_certificate": True,
        "headers": None,
        "healthy": {"interval": 0, "http_statuses": [200, 302], "successes": 0},
        "unhealthy": {
            "interval": 0,
            "http_statuses": [429, 404, 500, 501, 502, 503, 504, 505],
            "tcp_failures": 0,
            "timeouts": 0,
            "http_failures": 0,
        },
    }
    assert hc["passive"] == {
        "type": "http",
        "healthy": {
            "http_statuses": [
                200,
                201,
                202,
                203,
                204,
                205,
                206,
                207,
                208,
                226,
                300,
                301,
                302,
                303,
                304,
                305,
                306,
                307,
                308,
            ],
            "successes": 0,
        },
        "unhealthy": {
            "http_statuses": [429, 500, 503],
            "tcp_failures": 0,
            "timeouts": 0,
            "http_failures": 0,
        },
    }
    reg.get("upstreams").validate(row)


def test_upstream_partial_healthchecks_filled(reg):
    """A partial healthchecks record is completed with defaults."""
    row = build(
        reg,
        "upstreams",
        {"name": "b", "healthchecks": {"active": {"healthy": {"interval": 5}}}},
    )
    assert row["healthchecks"]["active"]["healthy"] == {
        "interval": 5,
        "http_statuses": [200, 302],
        "successes": 0,
    }
    assert row["healthchecks"]["passive"]["unhealthy"]["http_statuses"] == [
        429,
        500,
        503,
    ]
    err = fails(
        reg,
        "upstreams",
        {**row, "healthchecks": {**row["healthchecks"], "threshold": 101}},
    )
    assert err.fields == {"healthchecks": {"threshold": "value should be between 0 and 100"}}


@pytest.mark.parametrize(
    "name, message",
    [
        ("10.0.0.1", "Invalid name ('10.0.0.1'); no ip addresses allowed"),
        ("a.com:80", "Invalid name ('a.com:80'); no port allowed"),
        ("a b", "Invalid name ('a b'); must be a valid hostname"),
    ],
)
def test_upstream_name(reg, name, message):
    """Upstream names are hostnames without IP or port."""
    row = build(reg, "upstreams", {"name": name})
    assert fails(reg, "upstreams", row).fields == {"name": message}


def test_upstream_hash_rules(reg):
    """hash_on modes require their parameter; fallback rules; distinct headers."""
    row = build(reg, "upstreams", {"name": "b", "hash_on": "header"})
    assert row["algorithm"] == "consistent-hashing"
    assert fails(reg, "upstreams", row).fields == {
        "hash_on_header": "required field missing",
        "@entity": ["failed conditional validation given value of field 'hash_on'"],
    }
    ok = {**row, "hash_on_header": "X-A"}
    reg.get("upstreams").validate(ok)
    err = fails(
        reg,
        "upstreams",
        {**ok, "hash_fallback": "header", "hash_fallback_header": "X-A"},
    )
    assert err.fields == {
        "@entity": [
            "values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'"
        ]
    }
    none = build(reg, "upstreams", {"name": "b", "hash_fallback": "ip"})
    assert fails(reg, "upstreams", none).fields == {
        "hash_fallback": "expected one of: none",
        "@entity": ["failed conditional validation given value of field 'hash_on'"],
    }
    same = build(reg, "upstreams", {"name": "b", "hash_on": "ip", "hash_fallback": "ip"})
    assert fails(reg, "upstreams", same).fields["hash_fallback"] == (
        "expected one of: none, consumer, header, cookie, path, query_arg, uri_capture"
    )


@pytest.mark.parametrize(
    "target, normalized",
    [
        ("10.0.0.1", "10.0.0.1:8000"),
        ("example.com:81", "example.com:81"),
        ("::1", "[::1]:8000"),
        ("[::1]:9000", "[::1]:9000"),
    ],
)
def test_target_normalization(reg, target, normalized):
    """Targets get the default port 8000 and bracketed IPv6."""
    row = build(reg, "targets", {"target": target, "upstream": {"id": UUID}})
    assert row["target"] == normalized
    reg.get("targets").validate(row)


def test_target_rules(reg):
    """Targets: bad host messages (insert/upsert: Kong's DAO one, first), weight range,
    ms timestamps, nested-only."""
    ent = reg.get("targets")
    for op in ("insert", "upsert"):
        with pytest.raises(SchemaViolation) as info:
            build(reg, "targets", {"target": "bad host", "weight": 70000}, op=op)
        assert info.value.fields == {"target": "Invalid target; not a valid hostname or ip address"}
    row = build(
        reg,
        "targets",
        {"target": "bad host", "upstream": {"id": UUID}, "weight": 70000},
        op="update",
        now=1700000000.4567,
    )
    assert row["created_at"] == 1700000000.457
    assert fails(reg, "targets", row).fields == {
        "target": "Invalid target ('bad host'); not a valid hostname or ip address",
        "weight": "value should be between 0 and 65535",
    }
    assert build(reg, "targets", {"target": "a", "upstream": {"id": UUID}})["weight"] == 100
    assert ent.admin_top_level is False and ent.cache_key == ["upstream", "target"]
    assert ent.foreign_fields()["upstream"].on_delete == "cascade"


def test_core_schema_json(reg):
    """GET /schemas/routes exposes fields and checks in Kong's JSON shape."""
    body = reg.get("routes").to_schema_json()
    fields = {list(f)[0]: list(f.values())[0] for f in body["fields"]}
    assert fields["protocols"]["default"] == ["http", "https"]
    assert fields["service"] == {"type": "foreign", "reference": "services"}
    assert fields["https_redirect_status_code"]["one_of"] == [426, 301, 302, 307, 308]
    assert body["entity_checks"][0]["conditional"]["then_field"] == "snis"
    import json

    json.dumps(reg.get("upstreams").to_schema_json())
