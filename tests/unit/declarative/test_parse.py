"""The declarative loader: formats, nesting, references, ids, errors (no I/O)."""

from __future__ import annotations

import uuid

import pytest

from kongtx.declarative import FORMAT_VERSIONS, parse_document, parse_text
from kongtx.declarative._migrate import migrate_path
from kongtx.errors import InvalidDeclarativeConfig
from tests.unit.declarative.conftest import sample

NOW = 1700000000.0
SAMPLE_FILES = ("kong-1.1.json", "kong-2.1.yml", "kong-3.0.yml")
#: what the sample files cover (each bundled plugin as of writing, each entity)
SAMPLE_PLUGINS = {
    "acl",
    "basic-auth",
    "bot-detection",
    "correlation-id",
    "cors",
    "datadog",
    "file-log",
    "hmac-auth",
    "http-log",
    "ip-restriction",
    "jwt",
    "key-auth",
    "ldap-auth",
    "loggly",
    "proxy-cache",
    "rate-limiting",
    "request-size-limiting",
    "request-termination",
    "request-transformer",
    "response-ratelimiting",
    "response-transformer",
    "statsd",
    "syslog",
    "tcp-log",
    "udp-log",
}


def invalid(registry, text: str) -> InvalidDeclarativeConfig:
    with pytest.raises(InvalidDeclarativeConfig) as info:
        parse_text(text, registry, NOW)
    assert info.value.code == 14
    assert info.value.name == "invalid declarative configuration"
    return info.value


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_files_cover_every_entity_and_plugin(registry, name):
    parsed = parse_text(sample(name), registry, NOW)
    core = {"services", "routes", "consumers", "plugins", "upstreams", "targets"}
    core |= {"certificates", "snis", "ca_certificates"}
    credentials = {"keyauth_credentials", "basicauth_credentials", "acls"}
    credentials |= {"hmacauth_credentials", "jwt_secrets"}
    assert core | credentials <= set(parsed.entities)
    assert {p["name"] for p in parsed.entities["plugins"]} == SAMPLE_PLUGINS
    assert set(registry.enabled_plugins()) >= SAMPLE_PLUGINS


def test_format_versions_give_the_same_configuration(registry):
    results = [parse_text(sample(name), registry, NOW) for name in SAMPLE_FILES]
    assert [r.format_version for r in results] == list(FORMAT_VERSIONS)
    rows = [r.entities for r in results]
    assert rows[0] == rows[1] == rows[2]
    paths = {r["name"]: r["paths"] for r in rows[0]["routes"]}
    assert paths["echo-regex"] == ["~/items/\\d+$"]  # 1.1/2.1 regexes get the "~"
    assert paths["echo-plain"] == ["/echo"]


def test_upgrade_rules_for_old_paths():
    assert migrate_path("/plain/path") == "/plain/path"
    assert migrate_path("/a/%7euser/./x") == "/a/~user/x"  # normalized
    assert migrate_path("/v1/(?<id>\\d+)") == "~/v1/(?<id>\\d+)"
    assert migrate_path("/a.b|c%2E") == "~/a.b|c\\."  # regex: %2E is a literal dot


def test_3_0_paths_are_not_upgraded(registry):
    doc = '_format_version: "3.0"\nroutes:\n- name: r\n  paths: ["/v1/(?<x>\\\\d+)"]\n'
    parsed = parse_text(doc, registry, NOW)
    assert parsed.entities["routes"][0]["paths"] == ["/v1/(?<x>\\d+)"]  # a literal prefix


def test_nesting_follows_foreign_keys(registry):
    parsed = parse_text(sample("kong-3.0.yml"), registry, NOW)
    services = {s["name"]: s["id"] for s in parsed.entities["services"]}
    routes = {r["name"]: r for r in parsed.entities["routes"]}
    assert routes["echo-plain"]["service"] == {"id": services["echo"]}
    assert routes["top-level"]["service"] == {"id": services["echo"]}  # by name
    consumers = {c["username"]: c["id"] for c in parsed.entities["consumers"]}
    keys = {k["key"]: k["consumer"]["id"] for k in parsed.entities["keyauth_credentials"]}
    assert keys == {"alice-key": consumers["alice"], "bob-key": consumers["bob"]}
    snis = parsed.entities["snis"]
    assert snis[0]["certificate"] == {"id": parsed.entities["certificates"][0]["id"]}
    plugins = {p["name"]: p for p in parsed.entities["plugins"]}
    assert plugins["key-auth"]["route"] == {"id": routes["echo-plain"]["id"]}
    assert plugins["request-termination"]["consumer"] == {"id": consumers["alice"]}
    assert plugins["ip-restriction"]["service"] == {"id": services["echo"]}
    assert plugins["ip-restriction"]["consumer"] == {"id": consumers["bob"]}
    assert plugins["correlation-id"]["route"] is None  # global
    tls = next(s for s in parsed.entities["services"] if s["name"] == "tls-backend")
    assert tls["client_certificate"] == {"id": "4b0d0c3e-8d8b-4f7e-9d55-55a4e0b1c001"}


def test_ids_are_kongs_uuid5_of_the_endpoint_key(registry):
    doc = '_format_version: "3.0"\nservices:\n- {name: svc, host: example.test}\n'
    first = parse_text(doc, registry, NOW).entities["services"][0]["id"]
    namespace = uuid.uuid5(uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5"), "services")
    assert first == str(uuid.uuid5(namespace, "svc"))
    assert parse_text(doc, registry, NOW + 50).entities["services"][0]["id"] == first


def test_ids_of_keyless_children_use_the_parent(registry):
    doc = """
_format_version: "3.0"
upstreams:
- name: u1
  targets: [{target: "10.0.0.1:80"}]
- name: u2
  targets: [{target: "10.0.0.1:80"}]
consumers:
- username: c
  acls: [{group: g}]
"""
    parsed = parse_text(doc, registry, NOW)
    targets = parsed.entities["targets"]
    assert targets[0]["id"] != targets[1]["id"]  # same target, other upstream
    assert parse_text(doc, registry, NOW).entities["targets"] == targets
    acl = parsed.entities["acls"][0]
    consumer = parsed.entities["consumers"][0]["id"]
    namespace = uuid.uuid5(uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5"), "acls")
    assert acl["id"] == str(uuid.uuid5(namespace, f"acls:{consumer}:g"))


def test_given_ids_and_timestamps_are_kept(registry):
    doc = {
        "_format_version": "3.0",
        "consumers": [
            {
                "id": "D885E256-1ABE-5E24-80B6-8F68FE59EA8E",
                "username": "bobo",
                "created_at": 1566863706,
            }
        ],
    }
    row = parse_document(doc, registry, NOW).entities["consumers"][0]
    assert row["id"] == "d885e256-1abe-5e24-80b6-8f68fe59ea8e"
    assert row["created_at"] == 1566863706


def test_meta_fields(registry):
    doc = """
_format_version: "3.0"
_transform: false
_comment: top
_ignore: [1, {a: 2}]
services:
- {name: s, host: h, _comment: x, _ignore: [y], tags: [t1, t2]}
"""
    parsed = parse_text(doc, registry, NOW)
    assert parsed.transform is False
    assert parsed.entities["services"][0]["tags"] == ["t1", "t2"]
    assert "_comment" not in parsed.entities["services"][0]


def test_hash_is_stable_and_changes_with_content(registry):
    text = '_format_version: "3.0"\nconsumers: [{username: a}]\n'
    a = parse_text(text, registry, NOW)
    b = parse_text(text, registry, NOW + 5)
    c = parse_text('_format_version: "3.0"\nconsumers: [{username: b}]\n', registry, NOW)
    assert a.hash == b.hash != c.hash
    doc = {"_format_version": "3.0", "consumers": [{"username": "a"}]}
    same = {"consumers": [{"username": "a"}], "_format_version": "3.0"}
    assert parse_document(doc, registry, NOW).hash == parse_document(same, registry, NOW).hash


def test_broken_yaml(registry):
    err = invalid(registry, "_format_version: '3.0'\nservices: [\n")
    assert err.fields["error"].startswith("failed parsing declarative configuration: ")


def test_not_an_object(registry):
    err = invalid(registry, "bobby tables")
    assert err.to_body() == {
        "code": 14,
        "name": "invalid declarative configuration",
        "message": 'declarative config is invalid: {error="failed parsing declarative '
        'configuration: expected an object"}',
        "fields": {"error": "failed parsing declarative configuration: expected an object"},
    }


def test_format_version_required_and_checked(registry):
    assert invalid(registry, "services: []\n").fields == {
        "_format_version": "required field missing"
    }
    assert invalid(registry, '_format_version: "4.0"\n').fields == {
        "_format_version": "expected one of: 1.1, 2.1, 3.0"
    }


def test_field_errors_mirror_the_document(registry):
    err = invalid(registry, '_format_version: "1.1"\nservices:\n- port: -12\n')
    assert err.to_body() == {
        "code": 14,
        "name": "invalid declarative configuration",
        "message": 'declarative config is invalid: {services={{host="required field missing",'
        'port="value should be between 0 and 65535"}}}',
        "fields": {
            "services": [
                {"host": "required field missing", "port": "value should be between 0 and 65535"}
            ]
        },
    }


def test_unknown_fields(registry):
    err = invalid(
        registry,
        '_format_version: "3.0"\nfoo: 1\nservices:\n- {name: s, host: h, colour: red}\n',
    )
    assert err.fields == {"foo": "unknown field"}
    err = invalid(
        registry, '_format_version: "3.0"\nservices:\n- {name: s, host: h, colour: red}\n'
    )
    assert err.fields == {"services": [{"colour": "unknown field"}]}


def test_nested_errors_name_their_path(registry):
    doc = """
_format_version: "3.0"
services:
- name: ok
  host: h
- name: s
  host: h
  routes:
  - {name: good, paths: [/a]}
  - {name: bad, paths: [nope]}
  plugins:
  - {name: no-such-plugin}
"""
    err = invalid(registry, doc)
    service = err.fields["services"][1]
    assert err.fields["services"][0] is None
    assert service["routes"][0] is None
    assert service["routes"][1] == {
        "paths": ["should start with: / (fixed path) or ~/ (regex path)"]
    }
    assert "not enabled" in service["plugins"][0]["name"]


def test_nested_children_cannot_name_another_parent(registry):
    doc = """
_format_version: "3.0"
services:
- name: s
  host: h
  routes:
  - {name: r, paths: [/a], service: other}
"""
    assert invalid(registry, doc).fields == {
        "services": [{"routes": [{"service": "value must be null"}]}]
    }


def test_dangling_reference(registry):
    err = invalid(
        registry, '_format_version: "3.0"\nroutes:\n- {name: r, paths: [/x], service: nope}\n'
    )
    assert err.fields == {
        "routes": {"r": ["invalid reference 'service: nope' (no such entry in 'services')"]}
    }


def test_duplicates(registry):
    err = invalid(
        registry,
        '_format_version: "3.0"\nservices:\n- {name: a, host: x}\n- {name: a, host: y}\n',
    )
    assert err.fields == {
        "services": {
            "a": ["uniqueness violation: 'services' entity with name set to 'a' already declared"]
        }
    }
    err = invalid(
        registry,
        '_format_version: "3.0"\nconsumers:\n- {username: a, keyauth_credentials: [{key: k}]}\n'
        "- {username: b, keyauth_credentials: [{key: k}]}\n",
    )
    assert "keyauth_credentials" in err.fields


def test_plugin_registered_entities_need_no_loader_change():
    """A plugin's new credential entity is a section and nests under its parent by itself."""
    from kongtx.schema.entity import Entity
    from kongtx.schema.fields import Foreign, String
    from kongtx.schema.registry import new_registry

    reg = new_registry()
    reg.register(
        Entity(
            "widget_tokens",
            {
                "consumer": Foreign("consumers", required=True, on_delete="cascade"),
                "token": String(required=True, unique=True),
            },
            endpoint_key="token",
        )
    )
    doc = """
_format_version: "3.0"
consumers:
- username: c
  widget_tokens: [{token: t1}]
widget_tokens:
- {token: t2, consumer: c}
"""
    parsed = parse_text(doc, reg, NOW)
    consumer = parsed.entities["consumers"][0]["id"]
    assert [(t["token"], t["consumer"]["id"]) for t in parsed.entities["widget_tokens"]] == [
        ("t1", consumer),
        ("t2", consumer),
    ]
