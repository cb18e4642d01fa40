"""jwt, hmac-auth and oauth2 on two nodes sharing PostgreSQL (polling far away, NOTIFY only):
a credential or token deleted on node A stops working on node B, where it was cached, within
a second; an oauth2 token issued on A works on B at once (tokens live in the database)."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

import jwt as pyjwt
import pytest
import pytest_twisted
from twisted.internet import reactor, task

from tests.integration.harness import RunningGateway, postgres_nodes
from tests.support.upstream import start_upstream
from tests.unit.plugins.test_hmac_auth import authorization, make_signature

PLUGINS = "jwt,hmac-auth,oauth2"
pytestmark = pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")


async def _until(check: Any, status: int, within: float) -> float:
    started = reactor.seconds()
    while True:
        got = (await check()).status
        elapsed = reactor.seconds() - started
        if got == status:
            return elapsed
        assert elapsed < within, f"still {got} after {elapsed:.2f}s, expected {status}"
        await task.deferLater(reactor, 0.01, lambda: None)


def _hmac(secret: str, path: str) -> dict[str, str]:
    date = formatdate(time.time(), usegmt=True)
    signature = make_signature(secret, "hmac-sha256", [f"date: {date}", f"GET {path} HTTP/1.1"])
    return {
        "Date": date,
        "Authorization": authorization("date request-line", signature, username="h"),
    }


@pytest_twisted.ensureDeferred
async def test_deleted_on_a_stops_on_b_within_a_second(tmp_path: Any) -> None:
    upstream = await start_upstream(reactor)
    try:
        async with postgres_nodes(tmp_path, PLUGINS) as (a, b):
            await _scenario(a, b, upstream.port)
    finally:
        await upstream.stop()


async def _scenario(a: RunningGateway, b: RunningGateway, upstream_port: int) -> None:
    url = f"http://127.0.0.1:{upstream_port}"
    assert (await a.admin("POST", "/services", {"name": "s", "url": url})).status == 201
    for route, plugin, config in (
        ("j", "jwt", {}),
        ("h", "hmac-auth", {}),
        ("o", "oauth2", {"enable_client_credentials": True, "global_credentials": True}),
    ):
        reply = await a.admin("POST", "/services/s/routes", {"name": route, "paths": [f"/{route}"]})
        assert reply.status == 201
        reply = await a.admin(
            "POST", f"/routes/{route}/plugins", {"name": plugin, "config": config}
        )
        assert reply.status == 201, reply
    await a.admin("POST", "/consumers", {"username": "alice"})
    jwt_cred = (await a.admin("POST", "/consumers/alice/jwt", {})).json
    hmac_cred = (await a.admin("POST", "/consumers/alice/hmac-auth", {"username": "h"})).json
    client = (
        await a.admin("POST", "/consumers/alice/oauth2", {"name": "app", "client_secret": "cs"})
    ).json
    token = pyjwt.encode({"iss": jwt_cred["key"]}, jwt_cred["secret"], algorithm="HS256")

    def jwt_on_b() -> Any:
        return b.proxy("GET", "/j", headers={"Authorization": f"Bearer {token}"})

    def hmac_on_b() -> Any:
        return b.proxy("GET", "/h", headers=_hmac(hmac_cred["secret"], "/h"))

    await _until(jwt_on_b, 200, 5.0)  # route reached B, secret now cached there
    await _until(hmac_on_b, 200, 5.0)
    # An oauth2 token issued by A (over A's HTTPS listener) authenticates on B.
    from tests.integration.plugins.test_oauth2 import Https

    https = Https(a)
    body = f"grant_type=client_credentials&client_id={client['client_id']}&client_secret=cs"
    issued = await https.request("POST", "/o/oauth2/token", body=body)
    await https.pool.closeCachedConnections()
    assert issued.status == 200, issued
    access = issued.json["access_token"]

    def oauth_on_b() -> Any:
        return b.proxy("GET", "/o", headers={"Authorization": f"Bearer {access}"})

    assert (await oauth_on_b()).status == 200

    for path, check in (
        (f"/consumers/alice/jwt/{jwt_cred['id']}", jwt_on_b),
        (f"/consumers/alice/hmac-auth/{hmac_cred['id']}", hmac_on_b),
        (f"/oauth2_tokens/{access}", oauth_on_b),
    ):
        deleted = await a.request("DELETE", a.admin_url + path)
        assert deleted.status == 204, (path, deleted)
        assert await _until(check, 401, 1.0) < 1.0, path
