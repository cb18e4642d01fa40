"""Fixtures for the schema tests: generated PEM material and a fresh registry."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from kongtx.schema.registry import new_registry

NOW = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


def make_pair(
    kind: str = "rsa",
    *,
    ca: bool = False,
    days: int = 365,
    start: datetime.datetime = NOW,
) -> tuple[str, str]:
    """Return ``(cert_pem, key_pem)`` for a self-signed certificate."""
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.test")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - datetime.timedelta(days=1))
        .not_valid_after(start + datetime.timedelta(days=days))
    )
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


@pytest.fixture(scope="session")
def rsa_pair() -> tuple[str, str]:
    return make_pair("rsa")


@pytest.fixture(scope="session")
def rsa_pair2() -> tuple[str, str]:
    return make_pair("rsa")


@pytest.fixture(scope="session")
def ec_pair() -> tuple[str, str]:
    return make_pair("ec")


@pytest.fixture(scope="session")
def ca_pair() -> tuple[str, str]:
    return make_pair("rsa", ca=True)


@pytest.fixture
def reg():
    """A private registry with fresh core entities (no global state touched)."""
    return new_registry()
