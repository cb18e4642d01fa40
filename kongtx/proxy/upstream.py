"""Forwarding to the service: target selection, upstream TLS, timeouts and retries (proxy.md §3)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.logger import Logger
from twisted.python.failure import Failure

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

    def forward(
        self, ctx: ProxyContext, target: str, headers: Headers
    ) -> Deferred[UpstreamResponse]:
        """Forward with retries; fire with the upstream response or fail with
        :class:`UpstreamFailure`."""
        try:
            return _Forwarding(self, ctx, target, headers).next_try()
        except Exception:
            return fail()

    def _resolve(self, host: str, port: int) -> tuple[str, int] | Deferred[tuple[str, int]]:
        """The address to connect to: at once when ``host`` is an IP or cached, else a Deferred."""
        if is_ip(host):
            return host.strip("[]"), port
        addresses = self.dns.cached(host, port) if self.dns is not None else None
        if addresses:
            return self._chosen(host, port, addresses)
        return Deferred.fromCoroutine(self._lookup(host, port))

    async def _lookup(self, host: str, port: int) -> tuple[str, int]:
        try:
            addresses = await self.dns.resolve(host, port)
        except DNSError:
            raise UpstreamFailure(503, "name resolution failed") from None
        return self._chosen(host, port, addresses)

    def _chosen(self, host: str, port: int, addresses: Any) -> tuple[str, int]:
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


class _Forwarding:
    """One request's tries at the service's targets, with Kong's retry rules.

    Each try is plain calls up to the pool's Deferred (and the DNS lookup's, on a
    cache miss); a failed try that may be retried chains the next one.
    """

    __slots__ = (
        "forwarder",
        "ctx",
        "target",
        "headers",
        "replayable",
        "upstream",
        "balancer",
        "hash_value",
        "plan",
        "preserve_host",
        "client_host",
        "excluded",
        "last_status",
        "tries_left",
    )

    def __init__(
        self, forwarder: UpstreamForwarder, ctx: ProxyContext, target: str, headers: Headers
    ) -> None:
        service = ctx.service
        assert service is not None
        self.forwarder = forwarder
        self.ctx = ctx
        self.target = target
        self.headers = headers
        body = ctx.request.body
        self.replayable = body is None or isinstance(body, (BufferedBody, FileBody))
        upstream = self.upstream = ctx.snapshot.upstreams_by_name.get(service["host"])
        balancers = forwarder.balancers
        balancer = self.balancer = (
            balancers.get(service["host"]) if (upstream is not None and balancers) else None
        )
        self.hash_value = None
        if balancer is not None:
            assert upstream is not None
            self.hash_value = hash_input(upstream, _HashView(ctx))
            if self.hash_value is None and upstream.get("hash_on") == "cookie":
                # Kong: no cookie yet -> make one up, hash on it and hand it to the client.
                self.hash_value = str(uuid.uuid4())
                ctx.shared["balancer_set_cookie"] = hash_cookie_header(upstream, self.hash_value)
        self.plan = ctx.snapshot.service_plan(service)
        self.tries_left = self.plan.tries
        self.preserve_host = ctx.route.get("preserve_host") if ctx.route else False
        self.client_host = ctx.request.headers.get("host")
        self.excluded: set[Any] = set()
        self.last_status = 502

    def next_try(self) -> Deferred[UpstreamResponse]:
        """Pick the next target and send the request to it."""
        self.tries_left -= 1
        balancer = self.balancer
        if balancer is not None:
            try:
                address = balancer.select(self.hash_value, self.excluded)
            except NoHealthyTarget:
                if self.tries_left == self.plan.tries - 1:
                    raise UpstreamFailure(
                        503, "failure to get a peer from the ring-balancer"
                    ) from None
                raise UpstreamFailure(self.last_status) from None
            balancer.acquire(address)
            hostname = address.hostname or address.ip
            upstream = self.upstream
            if upstream is not None and upstream.get("host_header"):
                hostname = upstream["host_header"]
            return self._send(address, address.ip, address.port, hostname)
        plan = self.plan
        service = plan.service
        if plan.fixed_ip is not None:
            return self._send(None, plan.fixed_ip, plan.port, service["host"])
        resolved = self.forwarder._resolve(service["host"], plan.port)
        if isinstance(resolved, Deferred):
            return resolved.addCallback(
                lambda ip_port: self._send(None, ip_port[0], ip_port[1], service["host"])
            )
        return self._send(None, resolved[0], resolved[1], service["host"])

    def _send(self, address: Any, ip: str, port: int, hostname: str) -> Deferred[UpstreamResponse]:
        ctx = self.ctx
        plan = self.plan
        balanced = self.balancer is not None
        headers = self.headers
        headers.set(
            "Host",
            header_rewrite.upstream_host(
                ctx.upstream_host,
                self.client_host if self.preserve_host else None,
                None if balanced else plan.host_header,
                plan.service,
                hostname,
                port,
            ),
        )
        up_address = None if balanced else plan.address
        if up_address is None:
            tls = plan.tls
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
        request = ctx.request
        return self.forwarder.pool.request(
            UpstreamRequest(request.method, self.target, headers, request.body),
            up_address,
            connect_timeout=plan.connect_timeout,
            write_timeout=plan.write_timeout,
            read_timeout=plan.read_timeout,
        ).addCallbacks(
            self._answered,
            self._failed,
            callbackArgs=(address, started),
            errbackArgs=(address, try_record),
        )

    def _answered(
        self, response: UpstreamResponse, address: Any, started: float
    ) -> UpstreamResponse:
        balancer = self.balancer
        if balancer is not None and address is not None:
            # Connections are counted until the response head (least-connections, latency).
            balancer.release(address, self.ctx.clock.seconds() - started)
            balancer.report(address, status=response.status)
        return response

    def _failed(
        self, failure: Failure, address: Any, try_record: dict[str, Any]
    ) -> Deferred[UpstreamResponse] | Failure:
        """Record a failed try (log entry, passive health), then try again if Kong would."""
        err = failure.value
        balancer = self.balancer
        if not isinstance(err, UpstreamError):
            # Not the upstream's fault (e.g. a plugin's body wrapper ended the request).
            if balancer is not None and address is not None:
                balancer.release(address)
            return failure
        timeout = isinstance(err, UpstreamTimeout)
        try_record["state"] = "failed"
        self.last_status = try_record["code"] = 504 if timeout else 502
        if balancer is not None and address is not None:
            balancer.release(address)
            balancer.report(address, tcp_failure=not timeout, timeout=timeout)
            self.excluded.add(address)
        if (
            self.tries_left <= 0
            or isinstance(err, UpstreamProtocolError)
            or (
                err.request_sent
                and (
                    not self.replayable or self.ctx.request.method not in header_rewrite.IDEMPOTENT
                )
            )
        ):
            raise UpstreamFailure(self.last_status)
        return self.next_try()
