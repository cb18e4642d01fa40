"""Forwarding to the service: target selection, upstream TLS, timeouts and retries (proxy.md §3)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from twisted.logger import Logger

from kongtx.errors import UpstreamFailure
from kongtx.http.body import BufferedBody, FileBody
from kongtx.http.client import (
    UpstreamAddress,
    UpstreamError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamRequest,
    UpstreamResponse,
    UpstreamTimeout,
)
from kongtx.http.headers import Headers
from kongtx.proxy import header_rewrite
from kongtx.proxy.balancer import NoHealthyTarget, hash_cookie_header, hash_input
from kongtx.proxy.context import ProxyContext
from kongtx.proxy.dns import DNSError, is_ip
from kongtx.tls import upstream_tls_creator

log = Logger()


class _HashView:
    """What ``balancer.hash_input`` reads from a request."""

    __slots__ = (
        "consumer_id",
        "credential_id",
        "client_ip",
        "headers",
        "cookies",
        "path",
        "query",
        "uri_captures",
    )

    def __init__(self, ctx: ProxyContext) -> None:
        self.consumer_id = ctx.consumer["id"] if ctx.consumer else None
        self.credential_id = ctx.credential.get("id") if ctx.credential else None
        self.client_ip = ctx.client_ip
        self.headers = ctx.request.headers
        self.cookies = _cookies(ctx.request.headers.get_all("cookie"))
        self.path = ctx.request.path
        self.query = dict(ctx.query_args())
        self.uri_captures = ctx.match.uri_captures if ctx.match else {}


def _cookies(values: list[str]) -> dict[str, str]:
    jar: dict[str, str] = {}
    for value in values:
        for part in value.split(";"):
            name, sep, val = part.strip().partition("=")
            if sep and name not in jar:
                jar[name] = val
    return jar


class ServicePlan:
    """What forwarding to one service needs, compiled once per version of its row (and of
    the certificates it names) in the snapshot, never per request.

    :param service: the service row.
    :param certificates: the snapshot's certificates by id (``client_certificate``).
    :param ca_certificates: the snapshot's CA certificates by id (``ca_certificates``).
    """

    __slots__ = (
        "service",
        "tries",
        "connect_timeout",
        "write_timeout",
        "read_timeout",
        "tls",
        "fixed_ip",
        "port",
        "host_header",
        "address",
        "depends_on",
        "_tls_options",
        "_tls_creators",
    )

    def __init__(
        self,
        service: Mapping[str, Any],
        certificates: Mapping[str, Mapping[str, Any]] | None = None,
        ca_certificates: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        #: The service row this plan was computed from.
        self.service = service
        self.tries = (service.get("retries") or 0) + 1
        self.connect_timeout = (service.get("connect_timeout") or 60000) / 1000.0
        self.write_timeout = (service.get("write_timeout") or 60000) / 1000.0
        self.read_timeout = (service.get("read_timeout") or 60000) / 1000.0
        self.tls = service.get("protocol") in ("https", "grpcs", "tls")
        host = service["host"]
        self.port = service["port"]
        #: An IP literal needs no DNS: its address and Host header never change.
        self.fixed_ip = host.strip("[]") if is_ip(host) else None
        self.host_header = header_rewrite.host_header(service, host, self.port)
        self.address = (
            UpstreamAddress(self.fixed_ip, self.port)
            if self.fixed_ip is not None and not self.tls
            else None
        )
        # Upstream TLS: Kong's tls_verify, tls_verify_depth, ca_certificates (PEMs) and
        # client_certificate, resolved against the snapshot's certificates now.
        ca_certificates = ca_certificates or {}
        certificates = certificates or {}
        ca_ids = tuple(service.get("ca_certificates") or ())
        client_ref = service.get("client_certificate")
        client = certificates.get(client_ref["id"]) if client_ref else None
        #: Ids of the certificates and CA certificates compiled in (their change drops the plan).
        self.depends_on = ca_ids + ((client_ref["id"],) if client_ref else ())
        self._tls_options: dict[str, Any] = {
            "verify": bool(service.get("tls_verify")),
            "verify_depth": service.get("tls_verify_depth"),
            "ca_pems": tuple(ca_certificates[i]["cert"] for i in ca_ids if i in ca_certificates),
            "client_cert": (client["cert"], client["key"]) if client is not None else None,
        }
        self._tls_creators: dict[str, Any] = {}

    def tls_creator(self, server_name: str) -> Any:
        """The TLS client options for connecting to this service's ``server_name`` (built
        on the first connection to that name: loading keys and CA bundles is too slow for
        every request).

        :raises ValueError: bad PEM data, or verification without a server name.
        """
        found = self._tls_creators.get(server_name)
        if found is None:
            found = upstream_tls_creator(server_name, **self._tls_options)
            self._tls_creators[server_name] = found
        return found


class UpstreamForwarder:
    """Sends a prepared request to the service's targets with Kong's retry rules.

    :param pool: the keep-alive connection pool.
    :param balancers: ``BalancerRegistry`` (``get(name)``) or ``None``.
    :param dns: ``DNSCache`` for service hosts that are not upstream names.

    Everything derived from the configuration (timeouts, TLS options) comes from the
    snapshot's :class:`ServicePlan`; the forwarder holds none of it.
    """

    def __init__(self, pool: UpstreamPool, balancers: Any, dns: Any) -> None:
        self.pool = pool
        self.balancers = balancers
        self.dns = dns
        self._rr: dict[str, tuple[Any, list[int]]] = {}

    async def forward(self, ctx: ProxyContext, target: str, headers: Headers) -> UpstreamResponse:
        """Forward with retries; return the upstream response or raise :class:`UpstreamFailure`."""
        service = ctx.service
        assert service is not None
        request = ctx.request
        body = request.body
        replayable = body is None or isinstance(body, (BufferedBody, FileBody))
        upstream = ctx.snapshot.upstreams_by_name.get(service["host"])
        balancer = (
            self.balancers.get(service["host"])
            if (upstream is not None and self.balancers)
            else None
        )
        hash_value = None
        if balancer is not None:
            assert upstream is not None
            hash_value = hash_input(upstream, _HashView(ctx))
            if hash_value is None and upstream.get("hash_on") == "cookie":
                # Kong: no cookie yet -> make one up, hash on it and hand it to the client.
                hash_value = str(uuid.uuid4())
                ctx.shared["balancer_set_cookie"] = hash_cookie_header(upstream, hash_value)
        plan = ctx.snapshot.service_plan(service)
        tries = plan.tries
        tls = plan.tls
        preserve_host = ctx.route.get("preserve_host") if ctx.route else False
        client_host = request.headers.get("host")
        excluded: set[Any] = set()
        last_status = 502
        for attempt in range(tries):
            if balancer is not None:
                try:
                    address = balancer.select(hash_value, excluded)
                except NoHealthyTarget:
                    if attempt == 0:
                        raise UpstreamFailure(
                            503, "failure to get a peer from the ring-balancer"
                        ) from None
                    break
                balancer.acquire(address)
                ip, port, hostname = address.ip, address.port, address.hostname or address.ip
                if upstream is not None and upstream.get("host_header"):
                    hostname = upstream["host_header"]
            elif plan.fixed_ip is not None:
                address = None
                ip, port, hostname = plan.fixed_ip, plan.port, service["host"]
            else:
                address = None
                ip, port = await self._resolve(service["host"], plan.port)
                hostname = service["host"]
            headers.set(
                "Host",
                header_rewrite.upstream_host(
                    ctx.upstream_host,
                    client_host if preserve_host else None,
                    plan.host_header if balancer is None else None,
                    service,
                    hostname,
                    port,
                ),
            )
            up_address = plan.address if balancer is None else None
            if up_address is None:
                creator = plan.tls_creator(hostname) if tls else None
                up_address = UpstreamAddress(
                    ip, port, tls=tls, server_name=hostname if tls else None, tls_creator=creator
                )
            started = ctx.clock.seconds()
            try_record: dict[str, Any] = {
                "ip": ip,
                "port": port,
                "balancer_start": int(started * 1000),
                "balancer_latency": 0,
            }
            ctx.tries.append(try_record)
            try:
                response = await self.pool.request(
                    UpstreamRequest(request.method, target, headers, body),
                    up_address,
                    connect_timeout=plan.connect_timeout,
                    write_timeout=plan.write_timeout,
                    read_timeout=plan.read_timeout,
                )
            except UpstreamError as err:
                may_retry = self._failed_try(err, balancer, address, try_record, excluded)
                last_status = try_record["code"]
                if not may_retry or (
                    err.request_sent
                    and (not replayable or request.method not in header_rewrite.IDEMPOTENT)
                ):
                    break
                continue
            except BaseException:
                # Not the upstream's fault (e.g. a plugin's body wrapper ended the request).
                if balancer is not None and address is not None:
                    balancer.release(address)
                raise
            if balancer is not None and address is not None:
                # Connections are counted until the response head (least-connections, latency).
                balancer.release(address, ctx.clock.seconds() - started)
                balancer.report(address, status=response.status)
            return response
        raise UpstreamFailure(last_status)

    @staticmethod
    def _failed_try(
        err: UpstreamError,
        balancer: Any,
        address: Any,
        try_record: dict[str, Any],
        excluded: set[Any],
    ) -> bool:
        """Record a failed try (log entry, passive health); return whether another may follow."""
        timeout = isinstance(err, UpstreamTimeout)
        try_record["state"] = "failed"
        try_record["code"] = 504 if timeout else 502
        if balancer is not None and address is not None:
            balancer.release(address)
            balancer.report(address, tcp_failure=not timeout, timeout=timeout)
            excluded.add(address)
        return not isinstance(err, UpstreamProtocolError)

    async def _resolve(self, host: str, port: int) -> tuple[str, int]:
        if is_ip(host):
            return host.strip("[]"), port
        addresses = self.dns.cached(host, port) if self.dns is not None else None
        if not addresses:
            try:
                addresses = await self.dns.resolve(host, port)
            except DNSError:
                raise UpstreamFailure(503, "name resolution failed") from None
        if not addresses:
            raise UpstreamFailure(503, "name resolution failed")
        chosen = self._pick(host, addresses)
        return chosen.ip, chosen.port or port

    def _pick(self, host: str, addresses: Any) -> Any:
        """Smooth weighted round-robin over a name's addresses (SRV weights; A records weigh 1)."""
        if len(addresses) == 1:
            return addresses[0]
        state = self._rr.get(host)
        if state is None or state[0] is not addresses:
            # New answer (the cache hands out the same tuple until it changes): start over.
            state = self._rr[host] = (addresses, [0] * len(addresses))
        current = state[1]
        total = 0
        best = 0
        for index, address in enumerate(addresses):
            weight = address.weight if address.weight else 1
            total += weight
            current[index] += weight
            if current[index] > current[best]:
                best = index
        current[best] -= total
        return addresses[best]
