"""basic-auth credentials exported from Kong (password = ``sha1(password .. consumer_id)``,
imported with ``_transform: false`` as ``kongtx config db_import`` does) authenticate, survive
unrelated updates, and are re-hashed with bcrypt on their first success."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest_twisted
from twisted.internet import reactor, task

from kongtx.declarative import parse_text
from kongtx.declarative.load import import_parsed
from kongtx.plugins.basic_auth import crypto
from kongtx.schema import registry
from tests.integration.harness import gateway_and_upstream

CONSUMER_ID = "8d2b1f6e-3c4a-4e5b-9a7c-1f0e2d3c4b5a"
CREDENTIAL_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
KONG_HASH = hashlib.sha1(("open sesame" + CONSUMER_ID).encode()).hexdigest()
KONG_EXPORT = {
    "_format_version": "3.0",
    "_transform": False,
    "consumers": [{"id": CONSUMER_ID, "username": "kong-user"}],
    "basicauth_credentials": [
        {
            "id": CREDENTIAL_ID,
            "consumer": CONSUMER_ID,
            "username": "ku",
            "password": KONG_HASH,
        }
    ],
}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest_twisted.ensureDeferred
async def test_kong_sha1_hash_authenticates_then_becomes_bcrypt(tmp_path, monkeypatch):
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)
    async with gateway_and_upstream(
        tmp_path, "native", plugins="basic-auth", service="echo", routes={"r1": "/r1"}
    ) as (gw, _):
        await gw.admin("POST", "/routes/r1/plugins", {"name": "basic-auth"})
        parsed = parse_text(json.dumps(KONG_EXPORT), registry, reactor.seconds())
        await import_parsed(gw.node.dao, parsed)
        path = f"/basic-auths/{CREDENTIAL_ID}"
        assert (await gw.admin("GET", path)).json["password"] == KONG_HASH
        # An unrelated update keeps the imported hash as it is.
        reply = await gw.admin("PATCH", path, {"tags": ["imported"]})
        assert reply.status == 200 and reply.json["password"] == KONG_HASH
        reply = await gw.proxy("GET", "/r1", headers={"Authorization": basic("ku", "wrong")})
        assert reply.status == 401
        # Kong's hash itself is not a password.
        reply = await gw.proxy("GET", "/r1", headers={"Authorization": basic("ku", KONG_HASH)})
        assert reply.status == 401
        assert (await gw.admin("GET", path)).json["password"] == KONG_HASH
        reply = await gw.proxy("GET", "/r1", headers={"Authorization": basic("ku", "open sesame")})
        assert reply.status == 200, reply
        assert reply.json["headers"]["x-consumer-username"] == "kong-user"
        started = reactor.seconds()
        while True:
            stored = (await gw.admin("GET", path)).json["password"]
            if crypto.is_hashed(stored):
                break
            assert reactor.seconds() - started < 5, stored
            await task.deferLater(reactor, 0.02, lambda: None)
        assert crypto.check_password(b"open sesame", stored)
        for password, status in (("open sesame", 200), ("wrong", 401)):
            reply = await gw.proxy("GET", "/r1", headers={"Authorization": basic("ku", password)})
            assert reply.status == status
