"""Kong's basic-auth hash format (``sha1(password .. consumer_id)``) and the transformation rules."""

from __future__ import annotations

import hashlib

import pytest_twisted

from kongtx.plugins.basic_auth import crypto
from kongtx.plugins.basic_auth.daos import hash_password

CONSUMER = "5f9c1a3e-8a52-4c4e-9b7e-0d3b8f2a6c11"
KONG = hashlib.sha1(("pw" + CONSUMER).encode()).hexdigest()


def test_kong_sha1_format_and_check():
    assert crypto.is_kong_sha1(KONG)
    assert not crypto.is_kong_sha1(KONG.upper()) and not crypto.is_kong_sha1(KONG[:-1])
    assert not crypto.is_hashed(KONG)
    assert crypto.check_kong_sha1(b"pw", CONSUMER, KONG)
    assert not crypto.check_kong_sha1(b"pw", "another-consumer", KONG)
    assert not crypto.check_kong_sha1(b"pw2", CONSUMER, KONG)


@pytest_twisted.ensureDeferred
async def test_transformation_keeps_an_unchanged_hash_and_hashes_new_passwords(monkeypatch):
    """A written-back SHA-1 hash stays; a new plain password (even 40 hex digits) is bcrypt-hashed."""
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)
    row = {"password": KONG}
    assert await hash_password(row, None, {"password": KONG}) == row
    fresh = await hash_password({"password": KONG}, None, None)
    assert crypto.is_hashed(fresh["password"])
    assert crypto.check_password(KONG.encode(), fresh["password"])
    changed = await hash_password({"password": "new"}, None, {"password": KONG})
    assert crypto.check_password(b"new", changed["password"])
