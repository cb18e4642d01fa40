"""Unit tests for kongtx.tls: certificates, selection order, context caching."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

from kongtx.tls import (
    SNIServerContextFactory,
    cipher_string,
    ensure_default_certificate,
    make_certificate,
    select_certificate,
    server_context,
    sni_of,
    tls_version_of,
    upstream_tls_creator,
)


def _cn(cert_pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_default_certificate_created_then_reused(tmp_path: Path) -> None:
    """The first start writes a localhost RSA cert under <prefix>/ssl; later starts reuse it."""
    prefix = str(tmp_path / "prefix")
    cert, key = ensure_default_certificate(prefix)
    assert _cn(cert) == "localhost"
    parsed = x509.load_pem_x509_certificate(cert)
    assert parsed.public_key().key_size == 2048  # type: ignore[union-attr]
    key_path = tmp_path / "prefix" / "ssl" / "kongtx-default.key"
    assert (tmp_path / "prefix" / "ssl" / "kongtx-default.crt").read_bytes() == cert
    assert key_path.read_bytes() == key
    assert os.stat(key_path).st_mode & 0o077 == 0
    assert ensure_default_certificate(prefix) == (cert, key)


def test_default_certificate_replaced_when_broken(tmp_path: Path) -> None:
    """A corrupt default key is replaced by a fresh pair."""
    prefix = str(tmp_path)
    cert, _key = ensure_default_certificate(prefix, key_type="ec")
    (tmp_path / "ssl" / "kongtx-default-ecdsa.key").write_bytes(b"garbage")
    new_cert, new_key = ensure_default_certificate(prefix, key_type="ec")
    assert new_cert != cert
    server_context(new_cert, new_key)


def test_server_context_rejects_mismatched_key() -> None:
    """A key that does not belong to the certificate is refused."""
    cert, _ = make_certificate("a.test", key_type="ec")
    _, other_key = make_certificate("b.test", key_type="ec")
    with pytest.raises(SSL.Error):
        server_context(cert, other_key)


def test_server_context_loads_chain() -> None:
    """A chain (leaf then intermediate) loads; str and bytes PEM are accepted."""
    ca = make_certificate("ca", is_ca=True, key_type="ec")
    leaf, key = make_certificate("leaf.test", issuer=ca, key_type="ec")
    server_context((leaf + ca[0]).decode(), key.decode())


@pytest.mark.parametrize(
    ("server_name", "expected"),
    [
        ("api.example.com", "exact"),
        ("API.Example.COM", "exact"),
        ("www.example.com", "prefix-wildcard"),
        ("a.b.example.com", "default-star"),
        ("www.example.org", "suffix-wildcard"),
        ("other.test", "default-star"),
        (None, "default-star"),
        ("", "default-star"),
    ],
)
def test_select_certificate_order(server_name: str | None, expected: str) -> None:
    """Exact beats *.parent beats name.* beats * (one label per wildcard)."""
    certs = {
        "api.example.com": "exact",
        "*.example.com": "prefix-wildcard",
        "www.example.*": "suffix-wildcard",
        "*": "default-star",
    }
    assert select_certificate(server_name, certs) == expected


def test_select_certificate_prefers_prefix_over_suffix_wildcard() -> None:
    """When both wildcards match, the *.parent one wins, as in Kong."""
    certs = {"*.example.com": "prefix", "www.example.*": "suffix"}
    assert select_certificate("www.example.com", certs) == "prefix"


def test_select_certificate_none_without_star() -> None:
    """No match and no * entry means the default certificate (None)."""
    assert select_certificate("x.test", {"y.test": 1}) is None
    assert select_certificate("localhost", {"*.localhost": 1}) is None


def test_sni_contexts_are_cached() -> None:
    """A PEM pair is loaded once; later lookups reuse the same SSL.Context."""
    default = make_certificate("default", key_type="ec")
    pair = make_certificate("a.test", key_type="ec")
    factory = SNIServerContextFactory(lambda name: None, *default, cache_size=2)
    first = factory.context_for(*pair)
    assert first is not None
    assert factory.context_for(*pair) is first
    others = [make_certificate(f"{i}.test", key_type="ec") for i in range(2)]
    for other in others:
        factory.context_for(*other)
    assert factory.context_for(*pair) is not first  # evicted (LRU of 2), rebuilt


def test_bad_sni_certificate_is_cached_as_unusable() -> None:
    """An unloadable certificate yields None (default cert) and is not re-parsed."""
    default = make_certificate("default", key_type="ec")
    factory = SNIServerContextFactory(lambda name: None, *default)
    assert factory.context_for("not a pem", "nor this") is None
    assert ("not a pem", "nor this") in factory._cache


def test_sni_and_version_without_tls() -> None:
    """Plain transports have no SNI and no TLS version."""
    assert sni_of(object()) is None
    assert tls_version_of(object()) is None


def test_upstream_creator_cached_and_checked() -> None:
    """Creators are reused for equal arguments; verify needs a server name."""
    a = upstream_tls_creator("up.test", verify=False, ca_pems=[])
    assert upstream_tls_creator("up.test", verify=False, ca_pems=[]) is a
    assert upstream_tls_creator("other.test", verify=False) is not a
    with pytest.raises(ValueError):
        upstream_tls_creator(None, verify=True)


def test_configured_certificate_is_used(tmp_path: Path) -> None:
    """ssl_cert/ssl_cert_key paths (str or list) win over the generated certificate."""
    cert, key = make_certificate("configured.test", key_type="ec")
    (tmp_path / "c.crt").write_bytes(cert)
    (tmp_path / "c.key").write_bytes(key)
    paths = (str(tmp_path / "c.crt"), str(tmp_path / "c.key"))
    assert ensure_default_certificate(str(tmp_path), *paths) == (cert, key)
    assert ensure_default_certificate(str(tmp_path), [paths[0]], [paths[1]]) == (cert, key)
    assert not (tmp_path / "ssl").exists()
    assert _cn(ensure_default_certificate(str(tmp_path), [], [])[0]) == "localhost"


def test_configured_certificate_errors_name_the_file(tmp_path: Path) -> None:
    """A missing or mismatched configured certificate raises ValueError naming it."""
    cert, _ = make_certificate("a.test", key_type="ec")
    _, other_key = make_certificate("b.test", key_type="ec")
    (tmp_path / "a.crt").write_bytes(cert)
    (tmp_path / "b.key").write_bytes(other_key)
    with pytest.raises(ValueError, match="a.crt"):
        ensure_default_certificate(str(tmp_path), str(tmp_path / "a.crt"), str(tmp_path / "b.key"))
    with pytest.raises(ValueError, match="missing.crt"):
        ensure_default_certificate(str(tmp_path), "missing.crt", str(tmp_path / "b.key"))


def test_cipher_string_by_suite() -> None:
    """Kong's suite names map to cipher strings; custom needs ssl_ciphers."""
    assert "CHACHA20" not in cipher_string("fips")
    assert "DHE-RSA" in cipher_string("intermediate")
    assert cipher_string("custom", "ECDHE-RSA-AES128-GCM-SHA256") == "ECDHE-RSA-AES128-GCM-SHA256"
    with pytest.raises(ValueError, match="ssl_ciphers"):
        cipher_string("custom")
    for suite in ("modern", "intermediate", "old", "fips"):
        SSL.Context(SSL.TLS_METHOD).set_cipher_list(cipher_string(suite).encode())
