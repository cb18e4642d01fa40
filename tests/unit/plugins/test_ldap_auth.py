"""Unit tests of ldap-auth: header parsing, the bind cache (fake clock), DN escaping, the handler
over an in-memory binder (no sockets; the real slapd tests are in tests/integration)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from kongtx.errors import ProxyExit
from kongtx.plugins.ldap_auth.cache import MISS, BindCache
from kongtx.plugins.ldap_auth.client import LdapUnavailable, escape_dn_value
from kongtx.plugins.ldap_auth.handler import LdapAuthHandler as Handler
from kongtx.plugins.ldap_auth.handler import LdapConfig, parse_credentials
from kongtx.plugins.ldap_auth.schema import CONFIG
from kongtx.plugins.testing import run_hook
from kongtx.schema.fields import fill_record
from tests.unit.plugins.test_authn import consumer, make_ctx

GUEST = consumer("guest")


def conf(**overrides: Any) -> dict[str, Any]:
    base = {"ldap_host": "ldap.test", "base_dn": "ou=people,dc=example,dc=com", "attribute": "uid"}
    base.update(overrides)
    return fill_record(CONFIG.fields, base)


def header(user: str, password: str, scheme: str = "ldap") -> str:
    return f"{scheme} " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_parse_credentials() -> None:
    """Scheme case-insensitive; the user ends at the last colon; empty parts are refused."""
    cfg = LdapConfig(conf())
    assert parse_credentials(cfg, header("ann", "pw")) == ("ann", b"pw")
    assert parse_credentials(cfg, "  LDAP " + header("ann", "pw")[5:]) == ("ann", b"pw")
    assert parse_credentials(cfg, header("ann", "a:b")) == ("ann:a", b"b")
    assert parse_credentials(cfg, header("ann", "")) is None
    assert parse_credentials(cfg, header("", "pw")) is None
    assert parse_credentials(cfg, header("ann", "pw", "basic")) is None
    assert parse_credentials(cfg, "ldap ***") is None
    custom = LdapConfig(conf(header_type="corp.x"))
    assert parse_credentials(custom, header("ann", "pw", "CORP.X")) == ("ann", b"pw")
    assert parse_credentials(custom, header("ann", "pw", "corpax")) is None


def test_www_authenticate() -> None:
    """``ldap`` is upper-cased, other header types kept; realm appended."""
    assert LdapConfig(conf()).www_authenticate == "LDAP"
    assert LdapConfig(conf(realm="kong")).www_authenticate == 'LDAP realm="kong"'
    assert LdapConfig(conf(header_type="Corp")).www_authenticate == "Corp"


def test_escape_dn_value() -> None:
    """A username cannot add RDNs to the bind DN."""
    assert escape_dn_value("einstein") == "einstein"
    assert escape_dn_value("a,ou=admins") == "a\\,ou\\=admins"
    assert escape_dn_value("#x ") == "\\#x\\ "
    assert escape_dn_value(" x") == "\\ x"
    cfg = LdapConfig(conf())
    assert cfg.bind_dn("x+y") == "uid=x\\+y,ou=people,dc=example,dc=com"


def test_bind_cache_ttl_and_keys() -> None:
    """Outcomes expire after ttl; the key depends on scope, user and password; no password inside."""
    clock = Clock()
    cache = BindCache(clock, secret=b"k")
    key = cache.key("scope", "ann", b"pw")
    assert b"pw" not in key and key != cache.key("scope", "ann", b"pw2")
    assert key != cache.key("other", "ann", b"pw")
    assert cache.peek(key) is MISS
    cache.put(key, True, 60)
    clock.advance(59.9)
    assert cache.peek(key) is True
    clock.advance(0.1)
    assert cache.peek(key) is MISS
    cache.put(key, False, 0)  # 0: kept until evicted
    clock.advance(10**6)
    assert cache.peek(key) is False


def test_bind_cache_bounded() -> None:
    cache = BindCache(Clock(), size=3)
    for i in range(10):
        cache.put(cache.key("s", str(i), b"p"), True, 60)
    assert len(cache) == 3
    assert cache.peek(cache.key("s", "9", b"p")) is True
    assert cache.peek(cache.key("s", "0", b"p")) is MISS


def test_bind_cache_shares_concurrent_loads_and_does_not_cache_failures() -> None:
    cache = BindCache(Clock())
    key = cache.key("s", "ann", b"pw")
    pending: Deferred[bool] = Deferred()
    calls = []

    def load() -> Deferred[bool]:
        calls.append(1)
        return pending

    results: list[Any] = []
    for _ in range(3):
        Deferred.fromCoroutine(cache.get(key, 60, load)).addBoth(results.append)
    assert len(calls) == 1 and results == []
    pending.callback(True)
    assert results == [True, True, True]
    other = cache.key("s", "bob", b"pw")
    failures: list[Any] = []
    Deferred.fromCoroutine(cache.get(other, 60, lambda: fail(LdapUnavailable("down")))).addErrback(
        failures.append
    )
    assert failures and cache.peek(other) is MISS


class FakeBinder:
    """In-memory directory: ``dn -> password``; ``down`` makes every bind fail."""

    def __init__(self, users: dict[str, bytes]) -> None:
        self.users = users
        self.down = False
        self.calls: list[str] = []

    def bind(self, server: Any, dn: str, password: bytes) -> Deferred[bool]:
        self.calls.append(dn)
        if self.down:
            return fail(LdapUnavailable("connection refused"))
        return succeed(self.users.get(dn) == password)


def handler_with(binder: FakeBinder, clock: Clock) -> Handler:
    h = Handler()
    h._binder = binder  # type: ignore[assignment]
    h._cache = BindCache(clock)
    return h


def run(h: Handler, ctx: Any, config: dict[str, Any]) -> Any:
    """Run access now: None, or the ProxyExit."""
    return run_hook(h, "access", ctx, config)


DN = "uid=ann,ou=people,dc=example,dc=com"


def test_handler_success_is_cached_and_synchronous() -> None:
    """First request binds, the next one is answered from the cache without a bind."""
    clock = Clock()
    binder = FakeBinder({DN: b"pw"})
    h = handler_with(binder, clock)
    config = conf(cache_ttl=30)
    ctx = make_ctx({"consumers": []}, headers=[("Authorization", header("ann", "pw"))], clock=clock)
    assert run(h, ctx, config) is None
    assert ctx.credential == {"id": None, "username": "ann"} and ctx.consumer is None
    assert ctx.request.headers.get("x-credential-identifier") == "ann"
    ctx = make_ctx({"consumers": []}, headers=[("Authorization", header("ann", "pw"))], clock=clock)
    assert h.access(ctx, config) is None and ctx.credential is not None
    assert binder.calls == [DN]
    clock.advance(30)
    run(
        h,
        make_ctx({"consumers": []}, headers=[("Authorization", header("ann", "pw"))], clock=clock),
        config,
    )
    assert binder.calls == [DN, DN]


def test_handler_refusal_cached_and_proxy_authorization_first() -> None:
    """A refused bind is cached too; Proxy-Authorization is tried first, then Authorization."""
    clock = Clock()
    binder = FakeBinder({DN: b"pw"})
    h = handler_with(binder, clock)
    headers = [
        ("Proxy-Authorization", header("ann", "bad")),
        ("Authorization", header("ann", "pw")),
    ]
    ctx = make_ctx({"consumers": []}, headers=headers, clock=clock)
    assert run(h, ctx, conf(hide_credentials=True)) is None
    assert "authorization" not in ctx.request.headers
    assert "proxy-authorization" not in ctx.request.headers
    exc = run(h, make_ctx({"consumers": []}, headers=headers[:1], clock=clock), conf())
    assert isinstance(exc, ProxyExit) and (exc.status, exc.message) == (401, "Unauthorized")
    assert exc.headers == [("WWW-Authenticate", "LDAP")]
    assert binder.calls == [DN, DN]  # the second request's refusal came from the cache


def test_handler_server_down_is_500_even_with_anonymous() -> None:
    """An unreachable server is Kong's 500 (not a 401, not the anonymous consumer)."""
    clock = Clock()
    binder = FakeBinder({})
    binder.down = True
    h = handler_with(binder, clock)
    ctx = make_ctx(
        {"consumers": [GUEST]}, headers=[("Authorization", header("ann", "pw"))], clock=clock
    )
    exc = run(h, ctx, conf(anonymous="guest"))
    assert isinstance(exc, ProxyExit) and (exc.status, exc.message) == (
        500,
        "An unexpected error occurred",
    )
    ctx = make_ctx({"consumers": [GUEST]}, clock=clock)
    assert run(h, ctx, conf(anonymous="guest")) is None and ctx.consumer is GUEST


@pytest.mark.parametrize("value", [{"ldaps": True, "start_tls": True}])
def test_schema_ldaps_and_start_tls(value: dict[str, Any]) -> None:
    from kongtx.plugins.ldap_auth.schema import OPTIONS

    (check,) = OPTIONS["entity_checks"]
    errors: dict[str, Any] = {}
    check.run({"config": conf(**value)}, {"config": CONFIG}, errors)
    assert errors["@entity"] == ["'ldaps' and 'start_tls' cannot be enabled simultaneously"]
