"""TLS for kongtx: the default certificate, SNI server contexts, upstream TLS.

Server side, :class:`SNIServerContextFactory` picks a certificate per
handshake from a lookup function (the gateway reads its configuration
snapshot); ``SSL.Context`` objects are built once per certificate and cached,
so no key is parsed on the handshake path after the first use.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Tuple, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from twisted.internet import ssl as tssl
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from twisted.logger import Logger
from zope.interface import implementer

__all__ = [
    "CIPHER_SUITES",
    "SNIServerContextFactory",
    "cipher_string",
    "ensure_default_certificate",
    "make_certificate",
    "select_certificate",
    "server_context",
    "sni_of",
    "tls_version_of",
    "upstream_tls_creator",
]

_log = Logger()

PemPair = Tuple[Union[str, bytes], Union[str, bytes]]
Lookup = Callable[[str], "tuple[str, str] | None"]

#: OpenSSL cipher strings for TLS 1.2 by Kong's ``ssl_cipher_suite`` (Mozilla's
#: recommendations; TLS 1.3 suites are OpenSSL's defaults in every case).
CIPHER_SUITES = {
    "modern": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
    "intermediate": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305",
    "old": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:"
    "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES128-SHA:AES256-SHA",
}

CIPHER_SUITES["fips"] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
)


def cipher_string(suite: str, custom: str | None = None) -> str:
    """The OpenSSL cipher string for Kong's ``ssl_cipher_suite`` / ``ssl_ciphers``.

    :raises ValueError: unknown suite, or ``custom`` without a cipher string.
    """
    if suite == "custom":
        if not custom:
            raise ValueError("ssl_ciphers must be set when ssl_cipher_suite is custom")
        return custom
    try:
        return CIPHER_SUITES[suite]
    except KeyError:
        raise ValueError(f"unknown ssl_cipher_suite {suite!r}") from None


_VERSIONS = {"TLSv1.2": SSL.TLS1_2_VERSION, "TLSv1.3": SSL.TLS1_3_VERSION}

# --------------------------------------------------------------------------- certificates


def _b(data: str | bytes) -> bytes:
    return data.encode("ascii") if isinstance(data, str) else data


def make_certificate(
    common_name: str,
    *,
    sans: Sequence[str] | None = None,
    issuer: PemPair | None = None,
    is_ca: bool = False,
    days: int = 3650,
    key_type: str = "rsa",
) -> tuple[bytes, bytes]:
    """Create a certificate and its private key, as PEM.

    :param common_name: subject CN.
    :param sans: subjectAltNames (DNS names or IP addresses); default ``[common_name]``
        unless ``is_ca``.
    :param issuer: ``(cert_pem, key_pem)`` of the signing CA; None = self-signed.
    :param is_ca: mark as a CA (basicConstraints CA:TRUE, keyCertSign).
    :param key_type: ``rsa`` (2048 bits) or ``ec`` (P-256).
    :returns: ``(cert_pem, key_pem)``; the key is unencrypted PKCS#8.
    """
    key: Any
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unknown key type {key_type!r}")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    if issuer is None:
        issuer_name, signing_key = subject, key
    else:
        ca_cert = x509.load_pem_x509_certificate(_b(issuer[0]))
        issuer_name = ca_cert.subject
        signing_key = serialization.load_pem_private_key(_b(issuer[1]), password=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if is_ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    names = list(sans) if sans is not None else ([] if is_ca else [common_name])
    if names:
        general: list[x509.GeneralName] = []
        for name in names:
            try:
                general.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                general.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    cert = builder.sign(signing_key, hashes.SHA256())  # type: ignore[arg-type]
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_default_certificate(
    prefix: str,
    ssl_cert: str | Sequence[str] | None = None,
    ssl_cert_key: str | Sequence[str] | None = None,
    *,
    key_type: str = "rsa",
) -> tuple[bytes, bytes]:
    """Return the default server certificate, creating it on first start.

    With ``ssl_cert``/``ssl_cert_key`` (Kong's settings: a path or a list of
    paths) the first configured pair is read and checked instead. Otherwise
    the pair lives in ``<prefix>/ssl/kongtx-default{,-ecdsa}.{crt,key}`` (Kong:
    ``kong-default.crt``) and is reused while both files load. Synchronous
    file I/O and key generation: call it at startup, not from the reactor loop.

    :param prefix: the kongtx prefix directory.
    :param ssl_cert: configured certificate path(s), or None/empty.
    :param ssl_cert_key: the matching key path(s).
    :param key_type: ``rsa`` (default) or ``ec`` for a generated certificate.
    :returns: ``(cert_pem, key_pem)``.
    :raises ValueError: a configured certificate cannot be read or does not
        match its key (the message names the file).
    """
    certs = [ssl_cert] if isinstance(ssl_cert, str) else list(ssl_cert or ())
    keys = [ssl_cert_key] if isinstance(ssl_cert_key, str) else list(ssl_cert_key or ())
    if certs or keys:
        if not certs or not keys:
            raise ValueError("ssl_cert and ssl_cert_key must be given together")
        try:
            with open(certs[0], "rb") as fh:
                cert_pem = fh.read()
            with open(keys[0], "rb") as fh:
                key_pem = fh.read()
            server_context(cert_pem, key_pem)
        except (OSError, SSL.Error, ValueError, TypeError) as exc:
            raise ValueError(
                f"cannot use ssl_cert {certs[0]} / ssl_cert_key {keys[0]}: {exc}"
            ) from None
        return cert_pem, key_pem
    ssl_dir = os.path.join(prefix, "ssl")
    stem = os.path.join(ssl_dir, "kongtx-default" + ("-ecdsa" if key_type == "ec" else ""))
    cert_path, key_path = stem + ".crt", stem + ".key"
    try:
        with open(cert_path, "rb") as fh:
            cert_pem = fh.read()
        with open(key_path, "rb") as fh:
            key_pem = fh.read()
        server_context(cert_pem, key_pem)  # still a matching, loadable pair?
        return cert_pem, key_pem
    except (OSError, SSL.Error, ValueError, TypeError):
        pass
    cert_pem, key_pem = make_certificate("localhost", key_type=key_type)
    os.makedirs(ssl_dir, mode=0o700, exist_ok=True)
    _write_atomically(key_path, key_pem, 0o600)
    _write_atomically(cert_path, cert_pem, 0o644)
    return cert_pem, key_pem


def _write_atomically(path: str, data: bytes, mode: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _load_chain(cert_pem: str | bytes) -> list[x509.Certificate]:
    chain = x509.load_pem_x509_certificates(_b(cert_pem))
    if not chain:
        raise ValueError("no certificate in PEM data")
    return chain


# --------------------------------------------------------------------------- server side


def server_context(
    cert_pem: str | bytes,
    key_pem: str | bytes,
    *,
    protocols: Sequence[str] = ("TLSv1.2", "TLSv1.3"),
    ciphers: str = CIPHER_SUITES["intermediate"],
) -> SSL.Context:
    """Build a server ``SSL.Context`` for one certificate chain and key.

    :param cert_pem: leaf certificate first, then intermediates.
    :param protocols: allowed versions among ``TLSv1.2``/``TLSv1.3``.
    :raises SSL.Error or ValueError: unreadable PEM or key not matching the certificate.
    """
    versions = sorted(_VERSIONS[p] for p in protocols)
    if not versions:
        raise ValueError("no TLS protocol version enabled")
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(versions[0])
    ctx.set_max_proto_version(versions[-1])
    ctx.set_options(
        SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE | SSL.OP_NO_RENEGOTIATION
    )
    ctx.set_cipher_list(ciphers.encode("ascii"))
    ctx.set_session_id(b"kongtx")
    chain = _load_chain(cert_pem)
    ctx.use_certificate(chain[0])
    for extra in chain[1:]:
        ctx.add_extra_chain_cert(extra)
    ctx.use_privatekey(serialization.load_pem_private_key(_b(key_pem), password=None))  # type: ignore[arg-type]
    ctx.check_privatekey()
    return ctx


def _normalize_sni(raw: bytes | None) -> str:
    if not raw:
        return ""
    return raw.decode("latin-1").lower().rstrip(".")


@implementer(IOpenSSLServerConnectionCreator)
class SNIServerContextFactory:
    """Server TLS with per-SNI certificates.

    Usable as the context factory of ``SSL4ServerEndpoint``/``listenSSL`` and of
    ``twisted.protocols.tls.TLSMemoryBIOFactory``.

    :param lookup: ``lookup(server_name) -> (cert_pem, key_pem) | None``, called
        on each handshake with the lower-cased SNI (``""`` when the client sent
        none); None serves the default certificate.
    :param default_cert_pem: the default certificate chain.
    :param default_key_pem: its key.
    :param protocols: TLS versions (Kong's ``ssl_protocols``).
    :param ciphers: OpenSSL TLS 1.2 cipher string.
    :param cache_size: contexts kept (LRU) for looked-up certificates.
    """

    def __init__(
        self,
        lookup: Lookup,
        default_cert_pem: str | bytes,
        default_key_pem: str | bytes,
        *,
        protocols: Sequence[str] = ("TLSv1.2", "TLSv1.3"),
        ciphers: str = CIPHER_SUITES["intermediate"],
        cache_size: int = 1024,
    ) -> None:
        self._lookup = lookup
        self._protocols = tuple(protocols)
        self._ciphers = ciphers
        self._cache: OrderedDict[tuple[Any, Any], SSL.Context | None] = OrderedDict()
        self._cache_size = cache_size
        self._default = server_context(
            default_cert_pem, default_key_pem, protocols=self._protocols, ciphers=ciphers
        )
        self._default.set_tlsext_servername_callback(self._on_server_name)

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        """Twisted hook: a new server-side connection on the default context."""
        return SSL.Connection(self._default, None)

    def getContext(self) -> SSL.Context:
        """Legacy ContextFactory hook: the default context (with the SNI callback)."""
        return self._default

    def context_for(self, cert_pem: str | bytes, key_pem: str | bytes) -> SSL.Context | None:
        """The cached context for a PEM pair (built on first use; None if unusable)."""
        key = (cert_pem, key_pem)
        cache = self._cache
        try:
            ctx = cache[key]
        except KeyError:
            try:
                ctx = server_context(
                    cert_pem, key_pem, protocols=self._protocols, ciphers=self._ciphers
                )
            except (SSL.Error, ValueError, TypeError):
                _log.failure("cannot load certificate for SNI; serving the default one")
                ctx = None
            cache[key] = ctx
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        return ctx

    def _on_server_name(self, connection: SSL.Connection) -> None:
        # Exceptions must not escape: pyOpenSSL would fail the handshake later
        # with an opaque error. Any problem means "serve the default cert".
        try:
            pair = self._lookup(_normalize_sni(connection.get_servername()))
            if pair is not None:
                ctx = self.context_for(pair[0], pair[1])
                if ctx is not None:
                    connection.set_context(ctx)
        except Exception:  # noqa: BLE001
            _log.failure("SNI certificate lookup failed; serving the default certificate")


def _handle(transport: Any) -> SSL.Connection | None:
    if isinstance(transport, SSL.Connection):
        return transport
    get_handle = getattr(transport, "getHandle", None)
    handle = get_handle() if get_handle is not None else None
    return handle if isinstance(handle, SSL.Connection) else None


def sni_of(transport: Any) -> str | None:
    """The SNI a TLS client sent (lower-cased), or None (no TLS or no SNI).

    :param transport: a TLS transport (``ISSLTransport``) or an ``SSL.Connection``.
    """
    conn = _handle(transport)
    if conn is None:
        return None
    return _normalize_sni(conn.get_servername()) or None


def tls_version_of(transport: Any) -> str | None:
    """The negotiated protocol (``TLSv1.2``, ``TLSv1.3``) or None when not TLS."""
    conn = _handle(transport)
    if conn is None:
        return None
    version = conn.get_protocol_version_name()
    return version if version and version != "Unknown" else None


def select_certificate(server_name: str | None, certs_by_sni: dict[str, Any]) -> Any | None:
    """Kong's certificate selection for a server name.

    Order: exact name, ``*.parent`` (one leftmost label), ``name.*`` (last
    label), the catch-all ``*``; None means the default certificate.

    :param server_name: the SNI (any case) or None/"" when the client sent none.
    :param certs_by_sni: SNI names (lower case) to certificates.
    """
    if server_name:
        name = server_name.lower().rstrip(".")
        found = certs_by_sni.get(name)
        if found is not None:
            return found
        _first, dot, rest = name.partition(".")
        if dot and rest:
            found = certs_by_sni.get("*." + rest)
            if found is not None:
                return found
            head, _, _last = name.rpartition(".")
            found = certs_by_sni.get(head + ".*")
            if found is not None:
                return found
    return certs_by_sni.get("*")


# --------------------------------------------------------------------------- upstream side


@implementer(IOpenSSLClientConnectionCreator)
class _NoVerifyCreator:
    """Client connections that send SNI but accept any server certificate."""

    def __init__(self, ctx: SSL.Context, server_name: bytes | None) -> None:
        self._ctx = ctx
        self._server_name = server_name

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        conn = SSL.Connection(self._ctx, None)
        if self._server_name:
            conn.set_tlsext_host_name(self._server_name)
        return conn


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=512)
def _creator(
    server_name: str | None,
    verify: bool,
    verify_depth: int | None,
    ca_pems: tuple[str, ...],
    client_cert: tuple[str, str] | None,
) -> Any:
    client = None
    if client_cert is not None:
        client = tssl.PrivateCertificate.loadPEM(
            _b(client_cert[0]).strip() + b"\n" + _b(client_cert[1])
        )
    extra: dict[str, Any] = {}
    if verify_depth is not None:
        extra["verifyDepth"] = verify_depth
    if verify:
        if not server_name:
            raise ValueError("verifying an upstream certificate needs a server name")
        trust: Any
        if ca_pems:
            certs = [tssl.Certificate.loadPEM(_b(c)) for pem in ca_pems for c in _split_pems(pem)]
            trust = tssl.trustRootFromCertificates(certs)
        else:
            trust = tssl.platformTrust()
        return tssl.optionsForClientTLS(
            server_name, trustRoot=trust, clientCertificate=client, extraCertificateOptions=extra
        )
    if client is not None:
        extra["privateKey"] = client.privateKey.original
        extra["certificate"] = client.original
    ctx = tssl.CertificateOptions(**extra).getContext()
    sni = server_name.encode("idna") if server_name and not _is_ip(server_name) else None
    return _NoVerifyCreator(ctx, sni)


def _split_pems(pem: str | bytes) -> list[bytes]:
    return [c.public_bytes(serialization.Encoding.PEM) for c in _load_chain(pem)]


def upstream_tls_creator(
    server_name: str | None,
    *,
    verify: bool = False,
    verify_depth: int | None = None,
    ca_pems: Sequence[str] = (),
    client_cert: tuple[str, str] | None = None,
) -> IOpenSSLClientConnectionCreator:
    """TLS options for a connection to an upstream (cached per argument set).

    :param server_name: SNI to send (not sent for IP addresses) and, when
        verifying, the name the certificate must match.
    :param verify: verify the chain and the hostname (Kong's ``tls_verify``).
    :param verify_depth: maximum chain depth (Kong's ``tls_verify_depth``).
    :param ca_pems: trusted CA certificates (PEM); empty = the system store.
    :param client_cert: ``(cert_pem, key_pem)`` presented to the upstream.
    :raises ValueError: ``verify`` without a server name, or bad PEM data.
    """
    return _creator(  # type: ignore[no-any-return]
        server_name,
        verify,
        verify_depth,
        tuple(ca_pems),
        tuple(client_cert) if client_cert else None,
    )
