"""ldap-auth against a real slapd (plain, ldaps, StartTLS, CA verification), through the proxy.

The slapd fixture (``tests/support/slapd.py``) seeds ``ou=people,dc=example,dc=com``
and listens on two free ports; one test stops it mid-run and brings it back.
"""

from __future__ import annotations

import base64

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol

from tests.integration.harness import gateway_and_upstream
from tests.support.slapd import BASE_DN, USERS, Slapd

PLUGINS = "ldap-auth,key-auth"


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    server = Slapd(tmp_path_factory.mktemp("slapd"))
    server.start()
    yield server
    server.stop()


def _gateway(tmp_path, frontend, slapd):
    """A node trusting slapd's CA, with route r1 to the echo service."""
    return gateway_and_upstream(
        tmp_path,
        frontend,
        plugins=PLUGINS,
        service="echo",
        routes={"r1": "/r1"},
        lua_ssl_trusted_certificate=str(slapd.ca_file),
    )


@pytest_twisted.async_yield_fixture
async def env(tmp_path, frontend, slapd):
    async with _gateway(tmp_path, frontend, slapd) as (gw, _):
        yield gw, slapd


@pytest_twisted.async_yield_fixture
async def native(tmp_path, slapd):
    async with _gateway(tmp_path, "native", slapd) as (gw, _):
        yield gw, slapd


def ldap(user: str, password: str, scheme: str = "ldap") -> str:
    return f"{scheme} " + base64.b64encode(f"{user}:{password}".encode()).decode()


def conf(slapd, **extra):
    base = {
        "ldap_host": "127.0.0.1",
        "ldap_port": slapd.port,
        "base_dn": BASE_DN,
        "attribute": "uid",
    }
    base.update(extra)
    return base


async def add_plugin(gw, config, route="r1"):
    reply = await gw.admin(
        "POST", f"/routes/{route}/plugins", {"name": "ldap-auth", "config": config}
    )
    assert reply.status == 201, reply
    return reply.json


@pytest_twisted.ensureDeferred
async def test_plain_bind(env):
    """A right password passes (X-Credential-Identifier, no consumer); wrong ones are 401 LDAP."""
    gw, slapd = env
    await add_plugin(gw, conf(slapd))
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": ldap("einstein", "password")})
    assert reply.status == 200, reply
    seen = reply.json["headers"]
    assert seen["x-credential-identifier"] == "einstein"
    assert "x-consumer-id" not in seen and "x-anonymous-consumer" not in seen
    assert seen["authorization"] == ldap("einstein", "password")
    # A password with a colon: the user is what comes before the last colon, as Kong.
    reply = await gw.proxy(
        "GET", "/r1", headers={"Proxy-Authorization": ldap("curie", USERS["curie"])}
    )
    assert reply.status == 401
    for headers in (
        {},
        {"Authorization": ldap("einstein", "wrong")},
        {"Authorization": ldap("nobody", "password")},
        {"Authorization": "ldap %%%"},
        {"Authorization": ldap("einstein", "password", scheme="basic")},
    ):
        reply = await gw.proxy("GET", "/r1", headers=headers)
        assert (reply.status, reply.json["message"]) == (401, "Unauthorized"), headers
        assert reply.header("www-authenticate") == "LDAP"


@pytest_twisted.ensureDeferred
async def test_ldaps_and_starttls_with_verification(native):
    """ldaps and StartTLS bind over TLS; verify_ldap_host checks the CA from lua_ssl_trusted_certificate."""
    gw, slapd = native
    await gw.admin("POST", "/services/echo/routes", {"name": "r2", "paths": ["/r2"]})
    await gw.admin("POST", "/services/echo/routes", {"name": "r3", "paths": ["/r3"]})
    await add_plugin(gw, conf(slapd, ldap_port=slapd.tls_port, ldaps=True, verify_ldap_host=True))
    await add_plugin(gw, conf(slapd, start_tls=True, verify_ldap_host=True), route="r2")
    # The certificate names 127.0.0.1 and localhost; "127.0.0.2" is not in it.
    await add_plugin(
        gw,
        conf(
            slapd,
            ldap_host="127.0.0.2",
            ldap_port=slapd.tls_port,
            ldaps=True,
            verify_ldap_host=True,
        ),
        route="r3",
    )
    good = {"Authorization": ldap("einstein", "password")}
    assert (await gw.proxy("GET", "/r1", headers=good)).status == 200
    assert (await gw.proxy("GET", "/r2", headers=good)).status == 200
    bad = await gw.proxy("GET", "/r2", headers={"Authorization": ldap("einstein", "nope")})
    assert bad.status == 401
    reply = await gw.proxy("GET", "/r3", headers={"Authorization": ldap("newton", "apple")})
    assert (reply.status, reply.json["message"]) == (500, "An unexpected error occurred")


@pytest_twisted.ensureDeferred
async def test_config_validation(native):
    """ldaps with start_tls is Kong's 400; required fields."""
    gw, slapd = native
    reply = await gw.admin(
        "POST",
        "/routes/r1/plugins",
        {"name": "ldap-auth", "config": conf(slapd, ldaps=True, start_tls=True)},
    )
    assert reply.status == 400
    assert reply.json["fields"]["@entity"] == [
        "'ldaps' and 'start_tls' cannot be enabled simultaneously"
    ]
    reply = await gw.admin(
        "POST", "/routes/r1/plugins", {"name": "ldap-auth", "config": {"ldap_host": "x"}}
    )
    assert reply.status == 400
    assert reply.json["fields"]["config"] == {
        "base_dn": "required field missing",
        "attribute": "required field missing",
    }


@pytest_twisted.ensureDeferred
async def test_server_stops_and_returns(native):
    """Cached binds survive an outage; an uncached one is 500; it recovers when slapd is back."""
    gw, slapd = native
    await add_plugin(
        gw, conf(slapd, timeout=2000, hide_credentials=True, header_type="corp", realm="kong")
    )
    einstein = {"Authorization": ldap("einstein", "password", scheme="Corp")}
    reply = await gw.proxy("GET", "/r1", headers=einstein)
    assert reply.status == 200, reply
    assert "authorization" not in reply.json["headers"]
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": ldap("einstein", "x", "corp")})
    assert reply.header("www-authenticate") == 'corp realm="kong"'
    slapd.stop()
    try:
        assert (await gw.proxy("GET", "/r1", headers=einstein)).status == 200  # cached
        newton = {"Authorization": ldap("newton", "apple", scheme="corp")}
        reply = await gw.proxy("GET", "/r1", headers=newton)
        assert (reply.status, reply.json["message"]) == (500, "An unexpected error occurred")
    finally:
        slapd.start()
    reply = await gw.proxy("GET", "/r1", headers=newton)
    assert reply.status == 200, reply


class _Silent(Protocol):
    """Accepts and never answers (an LDAP server that hangs)."""


@pytest_twisted.ensureDeferred
async def test_timeout_and_anonymous(native):
    """A server that never answers: 500 after ``timeout``; anonymous covers a failed bind."""
    gw, slapd = native
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
        Factory.forProtocol(_Silent)
    )
    try:
        guest = (await gw.admin("POST", "/consumers", {"username": "guest"})).json
        await add_plugin(gw, conf(slapd, ldap_port=port.getHost().port, timeout=300))
        start = reactor.seconds()
        reply = await gw.proxy(
            "GET", "/r1", headers={"Authorization": ldap("einstein", "password")}
        )
        assert reply.status == 500 and reactor.seconds() - start < 5
        await gw.admin("POST", "/services/echo/routes", {"name": "r2", "paths": ["/r2"]})
        await add_plugin(gw, conf(slapd, anonymous=guest["id"]), route="r2")
        reply = await gw.proxy("GET", "/r2", headers={"Authorization": ldap("einstein", "bad")})
        assert reply.status == 200
        assert reply.json["headers"]["x-consumer-username"] == "guest"
        assert reply.json["headers"]["x-anonymous-consumer"] == "true"
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_binder_reuses_connections(slapd):
    """LdapBinder directly: keepalive reuses one connection; a stale one is replaced."""
    from kongtx.plugins.ldap_auth.client import LdapBinder, LdapServer

    binder = LdapBinder(reactor)
    server = LdapServer("127.0.0.1", slapd.port, start_tls=True, keepalive=30.0, timeout=5.0)
    dn = f"uid=einstein,{BASE_DN}"
    try:
        assert await binder.bind(server, dn, b"password") is True
        (first,) = [c for c, _ in binder._idle[server]]
        assert await binder.bind(server, dn, b"wrong") is False
        (second,) = [c for c, _ in binder._idle[server]]
        assert second is first
        first.transport.loseConnection()  # the server side of a pooled connection went away
        assert await binder.bind(server, f"uid=newton,{BASE_DN}", b"apple") is True
        (third,) = [c for c, _ in binder._idle[server]]
        assert third is not first
    finally:
        binder.close()


@pytest_twisted.ensureDeferred
async def test_no_password_in_logs(native):
    """Binds that succeed, fail and cannot reach the server log no password."""
    from twisted.logger import formatEvent, globalLogPublisher

    gw, slapd = native
    await add_plugin(gw, conf(slapd, timeout=1000))
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        ok = {"Authorization": ldap("tesla", USERS["tesla"])}
        assert (await gw.proxy("GET", "/r1", headers=ok)).status == 200
        bad = {"Authorization": ldap("tesla", "Wrong-Unique-Secret-88")}
        assert (await gw.proxy("GET", "/r1", headers=bad)).status == 401
        slapd.stop()
        try:
            down = {"Authorization": ldap("tesla", "Down-Unique-Secret-99")}
            assert (await gw.proxy("GET", "/r1", headers=down)).status == 500
        finally:
            slapd.start()
    finally:
        globalLogPublisher.removeObserver(events.append)
    text = "\n".join((formatEvent(e) or "") + repr(e) for e in events)
    assert "ldap-auth" in text  # the outage was logged
    for secret in (USERS["tesla"], "Wrong-Unique-Secret-88", "Down-Unique-Secret-99"):
        assert secret not in text
        assert base64.b64encode(f"tesla:{secret}".encode()).decode() not in text
