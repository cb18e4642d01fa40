"""``ca_certificates`` (Kong's ``ca_certificates.lua``): one CA certificate per row."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from kongtx.schema import typedefs
from kongtx.schema.checks import Custom
from kongtx.schema.entity import Entity
from kongtx.schema.fields import String

_BEGIN = "-----BEGIN CERTIFICATE-----"


def cert_digest(cert_pem: str) -> str | None:
    """Hex SHA-256 of the certificate's DER form (Kong's ``cert_digest``), or ``None``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except (ValueError, TypeError):
        return None
    return cert.fingerprint(hashes.SHA256()).hex()


def _digest_shorthand(data: dict[str, Any], op: str) -> dict[str, Any]:
    cert = data.get("cert")
    if isinstance(cert, str):
        data = {**data, "cert_digest": cert_digest(cert)}
    return data


def _check_ca(row: Mapping[str, Any]) -> str | None:
    from cryptography import x509

    pem: Any = row.get("cert")
    if pem.count(_BEGIN) > 1:
        return "please submit only one certificate at a time"
    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return (
            'certificate does not appear to be a CA because it is missing the "CA" basic constraint'
        )
    # The write time stamped by fill_defaults (the DAO's clock) is "now".
    now = row.get("updated_at") or row.get("created_at")
    if isinstance(now, (int, float)) and not isinstance(now, bool):
        not_after = cert.not_valid_after_utc
        if not_after < datetime.datetime.fromtimestamp(now, datetime.timezone.utc):
            return 'certificate expired, "Not After" time is in the past'
    return None


def build() -> Entity:
    """A new ``ca_certificates`` entity (``cert_digest`` computed from ``cert``)."""
    return Entity(
        "ca_certificates",
        {
            "cert": typedefs.certificate(required=True),
            "cert_digest": String(unique=True),
            "tags": typedefs.tags(),
        },
        updated_at=True,
        shorthands=[_digest_shorthand],
        entity_checks=[Custom(_check_ca, ["cert"])],
    )
