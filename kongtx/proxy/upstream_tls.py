"""Upstream TLS client options per service, built once per configuration snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kongtx import tls


class UpstreamTLS:
    """Caches ``tls.upstream_tls_creator`` results per (service, server name).

    Loading CA bundles and client keys is too slow for the request path, so a
    creator is built once per service and snapshot (:meth:`clear` on swap).
    """

    def __init__(self, default_verify: bool = False) -> None:
        self.default_verify = default_verify
        self._cache: dict[tuple[str, str], Any] = {}

    def clear(self) -> None:
        """Forget every creator (a new snapshot may have changed certificates)."""
        self._cache.clear()

    def creator(self, service: Mapping[str, Any], server_name: str, snapshot: Any) -> Any:
        """The client connection creator for ``service`` talking to ``server_name``."""
        key = (service["id"], server_name)
        found = self._cache.get(key)
        if found is None:
            verify = service.get("tls_verify")
            if verify is None:
                verify = self.default_verify
            ca_pems = [
                snapshot.ca_certificates[ca_id]["cert"]
                for ca_id in service.get("ca_certificates") or ()
                if ca_id in snapshot.ca_certificates
            ]
            client_cert = None
            ref = service.get("client_certificate")
            if ref:
                cert = snapshot.certificates.get(ref["id"])
                if cert is not None:
                    client_cert = (cert["cert"], cert["key"])
            found = tls.upstream_tls_creator(
                server_name,
                verify=bool(verify),
                verify_depth=service.get("tls_verify_depth"),
                ca_pems=ca_pems,
                client_cert=client_cert,
            )
            self._cache[key] = found
        return found
