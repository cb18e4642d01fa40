"""LDAP simple binds through ldaptor on the reactor, with idle connections kept for reuse.

:meth:`LdapBinder.bind` answers True (bound), False (the server refused:
wrong password, unknown entry, any LDAP result code) or raises
:class:`LdapUnavailable` (cannot connect, TLS failed, timed out, connection
lost). Connections are plain, ``ldaps`` (TLS from the start) or upgraded with
StartTLS; after a bind the connection waits ``keepalive`` seconds for the next
bind to the same server, then is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ldaptor.protocols import pureldap
from ldaptor.protocols.ldap import ldaperrors
from ldaptor.protocols.ldap.ldapclient import LDAPClient
from twisted.internet.defer import Deferred
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.error import ConnectError, ConnectionDone, ConnectionLost
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from kongtx import tls

__all__ = ["LdapBinder", "LdapServer", "LdapUnavailable", "escape_dn_value"]


class LdapUnavailable(Exception):
    """The LDAP server could not answer the bind (the message names host and reason)."""


@dataclass(frozen=True)
class LdapServer:
    """Where and how to connect (one idle-connection pool per distinct value)."""

    host: str
    port: int
    ldaps: bool = False
    start_tls: bool = False
    verify: bool = False
    timeout: float = 10.0
    keepalive: float = 60.0


_DN_SPECIAL = set(',+"\\<>;=')


def escape_dn_value(value: str) -> str:
    """RFC 4514 escaping of an attribute value put in a DN (no DN injection by usernames)."""
    out = []
    for index, char in enumerate(value):
        if (
            char in _DN_SPECIAL
            or (index == 0 and char in " #")
            or (index == len(value) - 1 and char == " ")
        ):
            out.append("\\" + char)
        elif char == "\x00":
            out.append("\\00")
        else:
            out.append(char)
    return "".join(out)


_LOST = (ConnectionDone, ConnectionLost, ConnectError, DeferredTimeout, OSError)


class LdapBinder:
    """Binds against LDAP servers for one node.

    :param reactor: provides TCP connections and ``callLater``.
    :param ca_pems: CA certificates trusted when verifying the server (empty: system store).
    """

    def __init__(self, reactor: Any, ca_pems: tuple[str, ...] = ()) -> None:
        self.reactor = reactor
        self.ca_pems = ca_pems
        self._idle: dict[LdapServer, list[tuple[LDAPClient, Any]]] = {}

    def _creator(self, server: LdapServer) -> Any:
        return tls.upstream_tls_creator(
            server.host, verify=server.verify, ca_pems=self.ca_pems if server.verify else ()
        )

    def _timed(self, d: Deferred[Any], server: LdapServer) -> Deferred[Any]:
        return d.addTimeout(server.timeout, self.reactor)

    async def _connect(self, server: LdapServer) -> LDAPClient:
        endpoint: Any = HostnameEndpoint(
            self.reactor, server.host, server.port, timeout=server.timeout
        )
        if server.ldaps:
            endpoint = wrapClientTLS(self._creator(server), endpoint)
        client: LDAPClient = await self._timed(
            endpoint.connect(Factory.forProtocol(LDAPClient)), server
        )
        if server.start_tls:
            try:
                response = await self._timed(client.send(pureldap.LDAPStartTLSRequest()), server)
            except BaseException:
                _abort(client)
                raise
            if getattr(response, "resultCode", None) != ldaperrors.Success.resultCode:
                _abort(client)
                raise LdapUnavailable(
                    f"failed to do StartTLS with {server.host}:{server.port}: "
                    f"{getattr(response, 'errorMessage', b'')!r}"
                )
            client.transport.startTLS(self._creator(server))
        return client

    def _take_idle(self, server: LdapServer) -> LDAPClient | None:
        idle = self._idle.get(server)
        while idle:
            client, timer = idle.pop()
            if timer.active():
                timer.cancel()
            if client.connected:
                return client
        return None

    def _release(self, server: LdapServer, client: LDAPClient) -> None:
        if not client.connected:
            return
        if server.keepalive <= 0:
            _abort(client)
            return
        idle = self._idle.setdefault(server, [])

        def expire() -> None:
            for entry in idle:
                if entry[0] is client:
                    idle.remove(entry)
                    break
            _abort(client)

        idle.append((client, self.reactor.callLater(server.keepalive, expire)))

    async def bind(self, server: LdapServer, dn: str, password: bytes) -> bool:
        """Simple-bind ``dn`` with ``password`` (see the module docstring)."""
        reused = self._take_idle(server)
        if reused is not None:
            try:
                return await self._bind_on(server, reused, dn, password)
            except LdapUnavailable:
                pass  # a stale idle connection: try once more on a fresh one
        try:
            client = await self._connect(server)
        except LdapUnavailable:
            raise
        except _LOST as exc:
            raise LdapUnavailable(_describe(server, exc)) from None
        except Exception as exc:  # TLS errors surface as assorted exceptions
            raise LdapUnavailable(_describe(server, exc)) from None
        return await self._bind_on(server, client, dn, password)

    async def _bind_on(
        self, server: LdapServer, client: LDAPClient, dn: str, password: bytes
    ) -> bool:
        try:
            await self._timed(client.bind(dn, password), server)
        except ldaperrors.LDAPException as exc:
            if isinstance(exc, ldaperrors.LDAPInvalidCredentials) or _is_result(exc):
                self._release(server, client)
                return False
            _abort(client)
            raise LdapUnavailable(_describe(server, exc)) from None
        except Exception as exc:
            _abort(client)
            raise LdapUnavailable(_describe(server, exc)) from None
        self._release(server, client)
        return True

    def close(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            for client, timer in idle:
                if timer.active():
                    timer.cancel()
                _abort(client)
        self._idle.clear()


def _is_result(exc: Exception) -> bool:
    """An LDAP result code from the server (not ldaptor's own connection errors)."""
    return isinstance(getattr(exc, "resultCode", None), int)


def _describe(server: LdapServer, exc: BaseException) -> str:
    reason = exc.value if isinstance(exc, Failure) else exc
    return f"failed to bind at {server.host}:{server.port}: {type(reason).__name__}: {reason}"


def _abort(client: LDAPClient) -> None:
    transport = getattr(client, "transport", None)
    if transport is not None:
        abort = getattr(transport, "abortConnection", None)
        (abort or transport.loseConnection)()
