"""The Host header sent upstream is decided by one function, in Kong's precedence."""

from __future__ import annotations

from kongtx.proxy.header_rewrite import upstream_host

SERVICE = {"protocol": "http", "host": "svc.test", "port": 8080}


def test_plugin_then_preserve_host_then_service_then_target() -> None:
    assert upstream_host("plugin.test", "client.test", "svc.test:8080", SERVICE, "t", 80) == (
        "plugin.test"
    )
    assert upstream_host(None, "client.test", "svc.test:8080", SERVICE, "t", 80) == "client.test"
    assert upstream_host(None, None, "svc.test:8080", SERVICE, "t", 80) == "svc.test:8080"
    assert upstream_host(None, None, None, SERVICE, "10.0.0.7", 80) == "10.0.0.7"
    assert upstream_host(None, None, None, SERVICE, "10.0.0.7", 9000) == "10.0.0.7:9000"
