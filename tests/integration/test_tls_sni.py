"""Real-socket TLS tests: SNI certificate selection, protocol versions, upstream verification."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from kongtx.tls import (
    SNIServerContextFactory,
    make_certificate,
    select_certificate,
    sni_of,
    tls_version_of,
    upstream_tls_creator,
)


class _Reporter(Protocol):
    """Server side: answers the first bytes with the SNI and TLS version it saw."""

    def dataReceived(self, data: bytes) -> None:
        info = f"{sni_of(self.transport)}|{tls_version_of(self.transport)}"
        self.transport.write(info.encode())


class _Client(Protocol):
    """Client side: sends a line, fires ``done`` with (reply, peer CN) or the failure."""

    def __init__(self) -> None:
        self.done: Deferred[tuple[str, str]] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(b"hello")

    def dataReceived(self, data: bytes) -> None:
        peer = self.transport.getPeerCertificate().to_cryptography()
        cn = peer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        if not self.done.called:
            self.done.callback((data.decode(), str(cn)))
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure) -> None:
        if not self.done.called:
            self.done.errback(reason)


@implementer(IOpenSSLClientConnectionCreator)
class _VersionPinnedClient:
    """A client that only speaks one TLS version (to probe the server's limits)."""

    def __init__(self, version: int, server_name: bytes) -> None:
        self._ctx = SSL.Context(SSL.TLS_METHOD)
        self._ctx.set_min_proto_version(version)
        self._ctx.set_max_proto_version(version)
        self._ctx.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
        self._server_name = server_name

    def clientConnectionForTLS(self, tls_protocol: object) -> SSL.Connection:
        conn = SSL.Connection(self._ctx, None)
        conn.set_tlsext_host_name(self._server_name)
        return conn


def _write_pair(tmp_path: Path, name: str, pair: tuple[bytes, bytes]) -> tuple[str, str]:
    """Store a generated pair in tmp_path and read it back as the gateway would."""
    (tmp_path / f"{name}.crt").write_bytes(pair[0])
    (tmp_path / f"{name}.key").write_bytes(pair[1])
    return (tmp_path / f"{name}.crt").read_text(), (tmp_path / f"{name}.key").read_text()


@pytest_twisted.async_yield_fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start SNI TLS servers on 127.0.0.1:0 on demand; stop them all at teardown."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import SSL4ServerEndpoint

    ports = []

    async def start(factory: SNIServerContextFactory) -> int:
        endpoint = SSL4ServerEndpoint(reactor, 0, factory, interface="127.0.0.1")
        port = await endpoint.listen(Factory.forProtocol(_Reporter))
        ports.append(port)
        return int(port.getHost().port)

    yield start
    for port in ports:
        await port.stopListening()


async def _talk(port: int, creator: Any) -> tuple[str, str]:
    """Connect over TLS with ``creator``; return (server reply, served certificate CN)."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS

    client = _Client()
    endpoint = wrapClientTLS(creator, TCP4ClientEndpoint(reactor, "127.0.0.1", port))
    await endpoint.connect(Factory.forProtocol(lambda: client))
    client.done.addTimeout(10, reactor)
    try:
        return await client.done
    finally:
        if client.transport is not None:
            client.transport.abortConnection()


@pytest.fixture
def sni_factory(tmp_path: Path) -> SNIServerContextFactory:
    """A factory with an exact and a wildcard certificate besides the default one."""
    certs = {
        "api.example.test": _write_pair(
            tmp_path, "exact", make_certificate("api.example.test", key_type="ec")
        ),
        "*.example.test": _write_pair(
            tmp_path, "wild", make_certificate("*.example.test", key_type="ec")
        ),
    }
    seen: list[str] = []

    def lookup(server_name: str) -> tuple[str, str] | None:
        seen.append(server_name)
        return select_certificate(server_name, certs)  # type: ignore[no-any-return]

    factory = SNIServerContextFactory(lookup, *make_certificate("default-cert", key_type="ec"))
    factory.seen = seen  # type: ignore[attr-defined]
    return factory


@pytest_twisted.ensureDeferred
async def test_sni_selects_certificate(tls_server: Any, sni_factory: Any) -> None:
    """Exact, wildcard and unknown SNI names get the exact, wildcard and default certs."""
    port = await tls_server(sni_factory)
    cases = [
        ("api.example.test", "api.example.test"),
        ("WWW.Example.Test", "*.example.test"),
        ("unknown.test", "default-cert"),
    ]
    for name, expected_cn in cases:
        reply, cn = await _talk(port, upstream_tls_creator(name, verify=False))
        assert cn == expected_cn
        assert reply == f"{name.lower()}|TLSv1.3"
    assert sni_factory.seen == ["api.example.test", "www.example.test", "unknown.test"]
    assert len(sni_factory._cache) == 2  # one context per certificate, reused


@pytest_twisted.ensureDeferred
async def test_no_sni_gets_default(tls_server: Any, sni_factory: Any) -> None:
    """A client that sends no SNI (IP address) gets the default certificate."""
    port = await tls_server(sni_factory)
    reply, cn = await _talk(port, upstream_tls_creator("127.0.0.1", verify=False))
    assert cn == "default-cert"
    assert reply == "None|TLSv1.3"


@pytest_twisted.ensureDeferred
async def test_tls12_accepted_tls11_refused(tls_server: Any, sni_factory: Any) -> None:
    """TLS 1.2 clients are served; a TLS 1.1-only client is refused by the server."""
    port = await tls_server(sni_factory)
    reply, cn = await _talk(port, _VersionPinnedClient(SSL.TLS1_2_VERSION, b"api.example.test"))
    assert (reply, cn) == ("api.example.test|TLSv1.2", "api.example.test")
    with pytest.raises(SSL.Error) as info:
        await _talk(port, _VersionPinnedClient(SSL.TLS1_1_VERSION, b"api.example.test"))
    text = str(info.value)
    # the server's protocol_version alert, not a local "no protocols available"
    assert "alert protocol version" in text or "unsupported protocol" in text, text


@pytest.fixture
def upstream_ca(tmp_path: Path) -> tuple[tuple[str, str], tuple[str, str]]:
    """A CA and a server certificate for ``upstream.test`` it signed (files in tmp_path)."""
    ca = make_certificate("Test CA", is_ca=True, key_type="ec")
    leaf = make_certificate("upstream.test", sans=["upstream.test"], issuer=ca, key_type="ec")
    return _write_pair(tmp_path, "ca", ca), _write_pair(tmp_path, "upstream", leaf)


@pytest_twisted.ensureDeferred
async def test_upstream_verification_succeeds(tls_server: Any, upstream_ca: Any) -> None:
    """Verifying against the right CA and hostname connects."""
    ca, leaf = upstream_ca
    port = await tls_server(SNIServerContextFactory(lambda name: None, *leaf))
    creator = upstream_tls_creator("upstream.test", verify=True, verify_depth=2, ca_pems=[ca[0]])
    reply, cn = await _talk(port, creator)
    assert cn == "upstream.test"
    assert reply.startswith("upstream.test|")


@pytest_twisted.ensureDeferred
async def test_upstream_hostname_mismatch_fails(tls_server: Any, upstream_ca: Any) -> None:
    """A trusted certificate for another hostname is rejected when verifying."""
    from service_identity import VerificationError

    ca, leaf = upstream_ca
    port = await tls_server(SNIServerContextFactory(lambda name: None, *leaf))
    creator = upstream_tls_creator("wrong.test", verify=True, ca_pems=[ca[0]])
    with pytest.raises(VerificationError):
        await _talk(port, creator)
    # without verification the same server is accepted
    reply, _cn = await _talk(port, upstream_tls_creator("wrong.test", verify=False))
    assert reply.startswith("wrong.test|")


@pytest_twisted.ensureDeferred
async def test_upstream_untrusted_ca_fails(tls_server: Any, upstream_ca: Any) -> None:
    """A chain not signed by the given CAs is rejected."""
    _ca, leaf = upstream_ca
    other_ca = make_certificate("Other CA", is_ca=True, key_type="ec")
    port = await tls_server(SNIServerContextFactory(lambda name: None, *leaf))
    creator = upstream_tls_creator("upstream.test", verify=True, ca_pems=[other_ca[0].decode()])
    with pytest.raises(SSL.Error):
        await _talk(port, creator)


@pytest_twisted.ensureDeferred
async def test_upstream_client_certificate(tls_server: Any, upstream_ca: Any) -> None:
    """A client certificate given to the creator is presented to the server."""
    ca, leaf = upstream_ca
    client_pair = make_certificate("kongtx-client", key_type="ec")
    presented: list[str] = []

    factory = SNIServerContextFactory(lambda name: None, *leaf)
    ctx = factory.getContext()

    def remember(conn: SSL.Connection, cert: Any, errno: int, depth: int, ok: int) -> bool:
        subject = cert.to_cryptography().subject
        presented.append(str(subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value))
        return True

    ctx.set_verify(SSL.VERIFY_PEER, remember)
    port = await tls_server(factory)
    creator = upstream_tls_creator(
        "upstream.test", verify=True, ca_pems=[ca[0]], client_cert=client_pair
    )
    await _talk(port, creator)
    assert "kongtx-client" in presented
