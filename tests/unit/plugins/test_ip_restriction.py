"""ip-restriction: CIDR matching, deny-before-allow, Kong's statuses and messages."""

from __future__ import annotations

import pytest

from kongtx.errors import ProxyExit
from kongtx.plugins.ip_restriction.handler import UNIDENTIFIED
from kongtx.plugins.ip_restriction.handler import IpRestrictionHandler as Handler
from kongtx.plugins.ip_restriction.matcher import IPMatcher, parse_client_ip
from kongtx.plugins.testing import make_context, make_request
from kongtx.proxy.context import ProxyContext


def _ctx(client_ip: str) -> ProxyContext:
    request = make_request(client_ip="10.9.9.9")
    return make_context(request=request, client_ip=client_ip)


def _run(conf: dict, ip: str) -> ProxyExit | None:
    try:
        Handler().access(_ctx(ip), conf)
    except ProxyExit as exc:
        return exc
    return None


@pytest.mark.parametrize(
    "entries, ip, expected",
    [
        (["10.0.0.0/8"], "10.1.2.3", True),
        (["10.0.0.0/8"], "11.0.0.1", False),
        (["192.168.1.1"], "192.168.1.1", True),
        (["192.168.1.1"], "192.168.1.2", False),
        (["10.0.0.0/24", "10.0.1.0/24"], "10.0.1.255", True),
        (["10.0.0.0/24", "10.0.2.0/24"], "10.0.1.5", False),
        (["2001:db8::/32"], "2001:db8::1", True),
        (["2001:db8::/32"], "2001:db9::1", False),
        (["::1"], "::1", True),
        (["127.0.0.0/8"], "::ffff:127.0.0.1", True),
        (["10.0.0.0/8"], "::1", False),
        (["0.0.0.0/0"], "8.8.8.8", True),
    ],
)
def test_matcher(entries, ip, expected):
    """Addresses and CIDRs of both families match exactly their ranges."""
    assert IPMatcher(entries).matches(parse_client_ip(ip)) is expected


def test_matcher_rejects_garbage():
    """An entry that is no IP/CIDR cannot be compiled."""
    with pytest.raises(ValueError):
        IPMatcher(["not-an-ip"])


def test_parse_client_ip():
    """Unix sockets and junk are not client IPs; bracketed IPv6 is."""
    assert parse_client_ip(None) is None
    assert parse_client_ip("unix:/tmp/sock") is None
    assert str(parse_client_ip("[::1]")) == "::1"


def test_deny_blocks_with_default_status_and_message():
    """A denied IP gets 403 and Kong's `IP address not allowed: <ip>`."""
    exc = _run({"deny": ["127.0.0.1"], "allow": None, "status": None, "message": None}, "127.0.0.1")
    assert exc is not None and exc.status == 403
    assert exc.message == "IP address not allowed: 127.0.0.1"
    assert _run({"deny": ["127.0.0.1"]}, "127.0.0.2") is None


def test_deny_takes_precedence_over_allow():
    """An IP both allowed and denied is refused."""
    assert _run({"allow": ["10.0.0.0/8"], "deny": ["10.0.0.5"]}, "10.0.0.5") is not None
    assert _run({"allow": ["10.0.0.0/8"], "deny": ["10.0.0.5"]}, "10.0.0.6") is None


def test_allow_list_refuses_others():
    """With an allow list, only listed IPs pass."""
    assert _run({"allow": ["10.0.0.0/8"]}, "10.3.3.3") is None
    exc = _run({"allow": ["10.0.0.0/8"]}, "172.16.0.1")
    assert exc is not None and exc.status == 403


def test_empty_lists_let_everything_through():
    """Empty allow/deny arrays impose nothing."""
    assert _run({"allow": [], "deny": []}, "1.2.3.4") is None


def test_custom_status_and_message():
    """status and message replace Kong's defaults."""
    exc = _run({"deny": ["1.2.3.4"], "status": 401, "message": "go away"}, "1.2.3.4")
    assert (exc.status, exc.message) == (401, "go away")


def test_unidentified_client():
    """A client without an IP (unix socket) is refused with Kong's message."""
    exc = _run({"allow": ["1.2.3.4"]}, "unix")
    assert (exc.status, exc.message) == (403, UNIDENTIFIED)


def test_configs_are_compiled_once():
    """A config the snapshot compiled is reused by every request; a bad one fails at use."""
    from kongtx.plugins.base import CompiledConfig

    handler = Handler()
    compiled = CompiledConfig.of(handler, {"deny": ["1.2.3.4"]}, {})
    assert handler.compiled(compiled) is handler.compiled(compiled)
    broken = CompiledConfig.of(handler, {"deny": ["not-an-ip"]}, {})
    with pytest.raises(Exception):
        handler.compiled(broken)
