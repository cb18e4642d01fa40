"""TLS on the proxy (SNI certificates from the Admin API) and TLS to upstreams."""

from __future__ import annotations

import pytest_twisted
from cryptography.x509.oid import NameOID
from OpenSSL import SSL, crypto
from twisted.internet import reactor, ssl
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import SSL4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol

from kongtx.tls import make_certificate
from tests.integration.harness import gateway_and_upstream, start_gateway
from tests.support.upstream import start_upstream


class _Grab(Protocol):
    """Sends one request over TLS, keeps the answer and the peer certificate."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.data = b""
        self.done: Deferred[None] = Deferred()
        self.subject_cn: str | None = None

    def connectionMade(self) -> None:
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        if self.subject_cn is None:
            cert = self.transport.getPeerCertificate()
            if cert is not None:
                names = cert.to_cryptography().subject.get_attributes_for_oid(NameOID.COMMON_NAME)
                self.subject_cn = names[0].value if names else None
        self.data += data

    def connectionLost(self, reason) -> None:
        self.done.callback(None)


class _SNIOptions(ssl.ClientContextFactory):
    """Client context sending a chosen SNI and accepting any certificate (we inspect it)."""

    def __init__(self, server_name: str) -> None:
        self.server_name = server_name

    def getContext(self) -> SSL.Context:
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        ctx.set_verify(SSL.VERIFY_NONE, lambda *a: True)
        name = self.server_name.encode()
        ctx.set_info_callback(
            lambda conn, where, ret: (
                conn.set_tlsext_host_name(name) if where & SSL.SSL_CB_HANDSHAKE_START else None
            )
        )
        return ctx


async def _tls_get(port: int, server_name: str, path: str = "/") -> _Grab:
    proto = _Grab(
        f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode()
    )
    endpoint = SSL4ClientEndpoint(reactor, "127.0.0.1", port, _SNIOptions(server_name))
    await connectProtocol(endpoint, proto)
    await proto.done
    return proto


@pytest_twisted.ensureDeferred
async def test_sni_selects_certificates_from_the_admin_api(tmp_path, frontend):
    """8443 serves the exact, then the wildcard certificate by SNI, else the default one; and proxies."""
    async with gateway_and_upstream(tmp_path, frontend, plugins="off") as (gw, upstream):
        exact_cert, exact_key = make_certificate("exact.test")
        wild_cert, wild_key = make_certificate("*.wild.test")
        for cert, key, snis in (
            (exact_cert, exact_key, ["exact.test"]),
            (wild_cert, wild_key, ["*.wild.test"]),
        ):
            reply = await gw.admin(
                "POST", "/certificates", {"cert": cert.decode(), "key": key.decode(), "snis": snis}
            )
            assert reply.status == 201, reply
        await gw.admin(
            "POST", "/services", {"name": "s", "url": f"http://127.0.0.1:{upstream.port}"}
        )
        await gw.admin("POST", "/services/s/routes", {"paths": ["/"], "protocols": ["https"]})
        port = gw.proxy_ssl_port
        exact = await _tls_get(port, "exact.test")
        assert exact.subject_cn == "exact.test"
        assert exact.data.startswith(b"HTTP/1.1 200")
        assert (
            b'"x-forwarded-proto": "https"' in exact.data
            or b'"x-forwarded-proto":"https"' in exact.data
        )
        wild = await _tls_get(port, "a.wild.test")
        assert wild.subject_cn == "*.wild.test"
        other = await _tls_get(port, "unknown.test")
        assert other.subject_cn == "localhost"


@pytest_twisted.ensureDeferred
async def test_tls_1_1_is_refused(tmp_path):
    """Only TLS 1.2 and 1.3 are offered on the proxy's TLS listener."""
    gw = await start_gateway(tmp_path, plugins="off")
    try:

        class _Old(ssl.ClientContextFactory):
            def getContext(self) -> SSL.Context:
                ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
                ctx.set_min_proto_version(SSL.TLS1_1_VERSION)
                ctx.set_max_proto_version(SSL.TLS1_1_VERSION)
                ctx.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
                return ctx

        proto = _Grab(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await connectProtocol(
            SSL4ClientEndpoint(reactor, "127.0.0.1", gw.proxy_ssl_port, _Old()), proto
        )
        await proto.done
        assert proto.data == b""
    finally:
        await gw.stop()


def _server_options(
    cert: bytes, key: bytes, client_ca: bytes | None = None
) -> ssl.CertificateOptions:
    kwargs = {}
    if client_ca is not None:
        kwargs = {
            "verify": True,
            "caCerts": [ssl.Certificate.loadPEM(client_ca).original],
            "requireCertificate": True,
        }
    return ssl.CertificateOptions(
        privateKey=crypto.load_privatekey(crypto.FILETYPE_PEM, key),
        certificate=crypto.load_certificate(crypto.FILETYPE_PEM, cert),
        **kwargs,
    )


@pytest_twisted.ensureDeferred
async def test_https_service_with_verification_and_client_certificate(tmp_path):
    """An https service is verified against ca_certificates, and presents client_certificate."""
    ca_cert, ca_key = make_certificate("Test CA", is_ca=True)
    server_cert, server_key = make_certificate(
        "localhost", sans=["localhost", "127.0.0.1"], issuer=(ca_cert, ca_key)
    )
    client_cert, client_key = make_certificate("gateway-client", issuer=(ca_cert, ca_key))
    upstream = await start_upstream(
        reactor, tls=_server_options(server_cert, server_key, client_ca=ca_cert)
    )
    gw = await start_gateway(tmp_path, plugins="off")
    try:
        ca = await gw.admin("POST", "/ca_certificates", {"cert": ca_cert.decode()})
        assert ca.status == 201, ca
        client = await gw.admin(
            "POST", "/certificates", {"cert": client_cert.decode(), "key": client_key.decode()}
        )
        assert client.status == 201, client
        reply = await gw.admin(
            "POST",
            "/services",
            {
                "name": "secure",
                "url": f"https://localhost:{upstream.port}",
                "tls_verify": True,
                "ca_certificates": [ca.json["id"]],
                "client_certificate": {"id": client.json["id"]},
            },
        )
        assert reply.status == 201, reply
        await gw.admin("POST", "/services/secure/routes", {"paths": ["/secure"]})
        await gw.admin(
            "POST",
            "/services",
            {
                "name": "unverifiable",
                "url": f"https://localhost:{upstream.port}",
                "tls_verify": True,
                "client_certificate": {"id": client.json["id"]},
                "retries": 0,
            },
        )
        await gw.admin("POST", "/services/unverifiable/routes", {"paths": ["/unverifiable"]})
        ok = await gw.proxy("GET", "/secure/x")
        assert ok.status == 200, ok
        assert ok.json["path"] == "/x"
        bad = await gw.proxy("GET", "/unverifiable", headers={"Accept": "application/json"})
        assert bad.status == 502
        # The TLS options live in the service's compiled plan: replacing the CA it trusts
        # takes effect on the next request, and putting it back restores it.
        other_ca, _ = make_certificate("Other CA", is_ca=True)
        ca_url = f"/ca_certificates/{ca.json['id']}"
        assert (await gw.admin("PATCH", ca_url, {"cert": other_ca.decode()})).status == 200
        assert (await gw.proxy("GET", "/secure/x")).status == 502
        assert (await gw.admin("PATCH", ca_url, {"cert": ca_cert.decode()})).status == 200
        assert (await gw.proxy("GET", "/secure/x")).status == 200
    finally:
        await gw.stop()
        await upstream.stop()


@pytest_twisted.ensureDeferred
async def test_legacy_ssl_plugin_on_an_api(tmp_path, frontend):
    """0.x ``ssl`` plugin on /apis: a certificate served for the API's host by SNI and
    https-only routing (426 on plain HTTP); deleting it restores both."""
    async with gateway_and_upstream(tmp_path, frontend, plugins="off") as (gw, upstream):
        reply = await gw.admin(
            "POST",
            "/apis",
            {"request_host": "legacy.test", "upstream_url": f"http://127.0.0.1:{upstream.port}"},
        )
        assert reply.status == 201, reply
        assert reply.json["name"] == "legacy.test"
        cert, key = make_certificate("legacy.test")
        config = {"cert": cert.decode(), "key": key.decode(), "only_https": True}
        reply = await gw.admin(
            "POST", "/apis/legacy.test/plugins", {"name": "ssl", "config": config}
        )
        assert reply.status == 201, reply
        plugin = reply.json
        assert plugin["name"] == "ssl" and plugin["config"]["only_https"] is True
        assert plugin["config"]["accept_http_if_already_terminated"] is False

        grab = await _tls_get(gw.proxy_ssl_port, "legacy.test")
        assert grab.subject_cn == "legacy.test" and grab.data.startswith(b"HTTP/1.1 200"), grab.data
        plain = await gw.proxy("GET", "/", headers={"Host": "legacy.test", "Accept": "*/*"})
        assert plain.status == 426 and plain.json["message"] == "Please use HTTPS protocol"

        listed = (await gw.admin("GET", "/apis/legacy.test/plugins")).json
        assert [p["id"] for p in listed["data"]] == [plugin["id"]] and listed["total"] == 1
        again = await gw.admin(
            "POST", "/apis/legacy.test/plugins", {"name": "ssl", "config": config}
        )
        assert again.status == 409

        reply = await gw.admin(
            "PATCH", f"/apis/legacy.test/plugins/{plugin['id']}", {"config": {"only_https": False}}
        )
        assert reply.status == 200 and reply.json["config"]["only_https"] is False
        assert (await gw.proxy("GET", "/", headers={"Host": "legacy.test"})).status == 200

        reply = await gw.admin("DELETE", f"/apis/legacy.test/plugins/{plugin['id']}")
        assert reply.status == 204
        grab = await _tls_get(gw.proxy_ssl_port, "legacy.test")
        assert grab.subject_cn != "legacy.test"
        assert (await gw.admin("GET", "/certificates")).json["data"] == []


@pytest_twisted.ensureDeferred
async def test_legacy_ssl_plugin_errors(tmp_path):
    """0.x messages for a missing key and a bad certificate; nothing is stored."""
    async with gateway_and_upstream(tmp_path, "native", plugins="off") as (gw, _):
        await gw.admin(
            "POST", "/apis", {"request_host": "e.test", "upstream_url": "http://127.0.0.1:9"}
        )
        reply = await gw.admin(
            "POST", "/apis/e.test/plugins", {"name": "ssl", "config": {"cert": "x"}}
        )
        assert reply.status == 400 and reply.json == {"config.key": "key is required"}
        _, key = make_certificate("e.test")
        reply = await gw.admin(
            "POST",
            "/apis/e.test/plugins",
            {"name": "ssl", "config": {"cert": "not a cert", "key": key.decode()}},
        )
        assert reply.status == 400 and reply.json == {"config.cert": "Invalid SSL certificate"}
        assert (await gw.admin("GET", "/certificates")).json["data"] == []
        plain = await gw.admin("GET", "/apis/e.test")
        assert plain.status == 200
