"""``certificates`` (Kong's ``certificates.lua``): PEM pairs, an optional alternative pair."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kongtx.schema import typedefs
from kongtx.schema.checks import Custom, MutuallyRequired
from kongtx.schema.entity import Entity
from kongtx.schema.fields import Array


def _public_pem(cert_pem: str | None = None, key_pem: str | None = None) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_private_key,
    )

    public: Any
    if cert_pem is not None:
        public = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    else:
        assert key_pem is not None
        public = load_pem_private_key(key_pem.encode(), password=None).public_key()
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _key_type(cert_pem: str) -> str:
    from cryptography import x509

    return type(x509.load_pem_x509_certificate(cert_pem.encode()).public_key()).__name__


def _pair_matches(cert_field: str, key_field: str, message: str):
    def check(row: Mapping[str, Any]) -> str | None:
        cert, key = row.get(cert_field), row.get(key_field)
        if cert is None or key is None:
            return None
        if _public_pem(cert_pem=cert) != _public_pem(key_pem=key):
            return message
        return None

    return check


def _different_types(row: Mapping[str, Any]) -> str | None:
    cert, alt = row.get("cert"), row.get("cert_alt")
    if cert is None or alt is None:
        return None
    if _key_type(cert) == _key_type(alt):
        return (
            "certificate and alternative certificate need to have different type "
            "(e.g. RSA and ECDSA), the provided certificates were both of the same type"
        )
    return None


_SNIS = Array(typedefs.wildcard_host)


def _transient_snis(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """``snis`` is transient (the DAO stores it in ``snis``) but still validated."""
    if "snis" not in row:
        return None
    err = _SNIS.validate(row["snis"])
    return {"snis": err} if err is not None else None


def build() -> Entity:
    """A new ``certificates`` entity (``snis`` transient)."""
    return Entity(
        "certificates",
        {
            "cert": typedefs.certificate(required=True),
            "key": typedefs.key(required=True),
            "cert_alt": typedefs.certificate(),
            "key_alt": typedefs.key(),
            "tags": typedefs.tags(),
        },
        updated_at=True,
        transient_fields=["snis"],
        entity_checks=[
            MutuallyRequired(["cert_alt", "key_alt"]),
            Custom(
                _pair_matches("cert", "key", "certificate does not match key"),
                ["cert", "key"],
            ),
            Custom(
                _pair_matches("cert_alt", "key_alt", "alternative certificate does not match key"),
                ["cert_alt", "key_alt"],
            ),
            Custom(_different_types, ["cert", "cert_alt"]),
            Custom(_transient_snis),
        ],
    )
