"""Active health checks and the node's registry of balancers.

:class:`ActiveHealthChecker` probes an upstream's addresses on the intervals of
``healthchecks.active`` (healthy addresses every ``healthy.interval``,
unhealthy ones every ``unhealthy.interval``; 0 disables that loop) with at most
``concurrency`` probes in flight, each bounded by ``timeout``, and feeds the
outcomes to :meth:`Balancer.report_active`.

:class:`BalancerRegistry` owns one :class:`Balancer` (and checker) per
upstream: :meth:`~BalancerRegistry.sync` is called with the rows of every new
configuration snapshot, hostname targets are resolved through the
:class:`~kongtx.proxy.dns.DNSCache` and re-resolved when their TTL runs out.
Health is node-local, as in Kong.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from OpenSSL import SSL
from treq.client import HTTPClient
from twisted.internet import error as net_error
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    DeferredSemaphore,
    TimeoutError,
    maybeDeferred,
    succeed,
)
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import optionsForClientTLS
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import Agent
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from kongtx.proxy.balancer import Address, Balancer, UnknownAddress, parse_target
from kongtx.proxy.dns import DNSCache, DNSError, is_ip

__all__ = ["ActiveHealthChecker", "BalancerRegistry", "HTTPProbe", "Probe"]

_log = Logger()

#: ``probe(address, active_config)`` -> HTTP status, or ``None`` for a successful
#: TCP connect; raising means a TCP failure (a ``TimeoutError`` means a timeout).
Probe = Callable[
    [Address, Mapping[str, Any]], "Awaitable[int | None] | Deferred[int | None] | int | None"
]


class _Discard(Protocol):
    """Drop a probe's response body: only the status matters."""

    def connectionMade(self) -> None:
        self.transport.stopProducing()  # type: ignore[union-attr]


@implementer(IOpenSSLClientConnectionCreator)
class _NoVerifyTLS:
    """TLS without certificate checks (``https_verify_certificate = false``), still sending SNI."""

    def __init__(self, server_name: str | None) -> None:
        self._ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        self._ctx.set_verify(SSL.VERIFY_NONE, lambda *_: True)
        self._sni = server_name.encode("idna") if server_name and not is_ip(server_name) else None

    def clientConnectionForTLS(self, tls_protocol: Any) -> SSL.Connection:
        conn = SSL.Connection(self._ctx, tls_protocol)
        if self._sni:
            conn.set_tlsext_host_name(self._sni)
        conn.set_connect_state()
        return conn


@implementer(IPolicyForHTTPS)
class _ProbeTLSPolicy:
    def __init__(self, server_name: str | None, verify: bool) -> None:
        self._server_name = server_name
        self._verify = verify

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        name = self._server_name or hostname.decode("ascii")
        if self._verify:
            return optionsForClientTLS(name)
        return _NoVerifyTLS(name)


class HTTPProbe:
    """The default probe: ``GET http_path`` over http/https with treq, or a TCP connect.

    :param reactor: the reactor connections are made with (never the global one).
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._agents: dict[tuple[str | None, bool], Any] = {}

    def _client(self, server_name: str | None, verify: bool) -> HTTPClient:
        key = (server_name, verify)
        agent = self._agents.get(key)
        if agent is None:
            # No connection pool: every probe is a fresh connection, closed after the status.
            agent = self._agents[key] = HTTPClient(
                Agent(self._reactor, contextFactory=_ProbeTLSPolicy(server_name, verify))
            )
        return agent

    async def __call__(self, address: Address, active: Mapping[str, Any]) -> int | None:
        kind = active.get("type") or "http"
        if kind not in ("http", "https"):
            # tcp (and grpc/grpcs, which kongtx probes as a TCP connect)
            endpoint_cls = TCP6ClientEndpoint if ":" in address.ip else TCP4ClientEndpoint
            endpoint = endpoint_cls(
                self._reactor, address.ip, address.port, timeout=float(active.get("timeout") or 1)
            )
            proto: Any = await endpoint.connect(Factory.forProtocol(Protocol))
            proto.transport.loseConnection()
            return None
        host = f"[{address.ip}]" if ":" in address.ip else address.ip
        path = active.get("http_path") or "/"
        url = f"{kind}://{host}:{address.port}{path}"
        headers: dict[str | bytes, list[str | bytes]] = {}
        for name, values in (active.get("headers") or {}).items():
            headers[name] = list(values) if isinstance(values, (list, tuple)) else [str(values)]
        if not any(k.lower() == "host" for k in headers):
            headers["Host"] = [address.hostname]
        sni = active.get("https_sni") or (None if is_ip(address.hostname) else address.hostname)
        verify = active.get("https_verify_certificate", True) is not False
        client = self._client(sni if kind == "https" else None, verify)
        response = await client.get(url, headers=headers, allow_redirects=False)
        response.deliverBody(_Discard())
        return int(response.code)


class ActiveHealthChecker:
    """Run the active health checks of one balancer's upstream.

    :param reactor: ``IReactorTime`` (and ``IReactorTCP`` for the default probe).
    :param balancer: the :class:`Balancer` whose addresses are probed.
    :param probe: a :data:`Probe`; default :class:`HTTPProbe` on ``reactor``.
    :param clock: scheduling clock, default ``reactor``.
    """

    def __init__(
        self,
        reactor: Any,
        balancer: Balancer,
        probe: Probe | None = None,
        clock: IReactorTime | None = None,
    ) -> None:
        self._clock = clock if clock is not None else reactor
        self._balancer = balancer
        self._probe = probe if probe is not None else HTTPProbe(reactor)
        self._loops: list[LoopingCall] = []
        self._inflight: set[Deferred[Any]] = set()
        self._sem = DeferredSemaphore(1)
        self.config: Mapping[str, Any] = {}

    @property
    def running(self) -> bool:
        """Whether any probe loop is scheduled."""
        return bool(self._loops)

    def start(self) -> None:
        """Start the probe loops from the balancer's current ``healthchecks.active``."""
        self.stop()
        active = self._balancer.active
        self.config = active
        self._sem = DeferredSemaphore(max(1, int(active.get("concurrency") or 10)))
        for healthy, section in ((True, "healthy"), (False, "unhealthy")):
            interval = float((active.get(section) or {}).get("interval") or 0)
            if interval <= 0:
                continue
            loop = LoopingCall(self._round, healthy)
            loop.clock = self._clock
            loop.start(interval, now=False).addErrback(
                lambda f: _log.failure("health check loop crashed", f)
            )
            self._loops.append(loop)

    def stop(self) -> None:
        """Stop the loops and cancel probes in flight."""
        loops, self._loops = self._loops, []
        for loop in loops:
            if loop.running:
                loop.stop()
        for d in list(self._inflight):
            d.cancel()

    def _round(self, healthy: bool) -> Deferred[Any] | None:
        addresses = self._balancer.probe_addresses(healthy)
        if not addresses:
            return None
        return DeferredList([self._sem.run(self._check, a) for a in addresses], consumeErrors=True)

    def _check(self, address: Address) -> Deferred[None]:
        if not self._loops:  # stopped while queued behind the semaphore
            return succeed(None)
        active = self._balancer.active
        d: Deferred[Any] = maybeDeferred(self._probe, address, active)
        d.addTimeout(float(active.get("timeout") or 1), self._clock)
        self._inflight.add(d)
        d.addBoth(self._done, d, address)
        return d

    def _done(self, result: Any, d: Deferred[Any], address: Address) -> None:
        self._inflight.discard(d)
        if not self._loops:
            return  # stopped: the result no longer counts
        if not isinstance(result, Failure):
            self._balancer.report_active(address, status=result)
        elif result.check(TimeoutError, net_error.TimeoutError):
            self._balancer.report_active(address, timeout=True)
        elif result.check(CancelledError):
            return
        else:
            _log.debug(
                "probe of {ip}:{port} failed: {err}",
                ip=address.ip,
                port=address.port,
                err=result.getErrorMessage(),
            )
            self._balancer.report_active(address, tcp_failure=True)


class BalancerRegistry:
    """All balancers of this node, kept in step with the configuration snapshots.

    :param reactor: passed to the health checkers (probe connections).
    :param dns_cache: resolves hostname targets.
    :param clock: ``IReactorTime`` for balancers, checkers and DNS refresh.
    :param node_id: reported in health responses (random if not given).
    :param probe: probe used by every checker (default :class:`HTTPProbe`).
    :param dns_refresh_interval: seconds between checks of hostname targets' DNS.
    """

    def __init__(
        self,
        reactor: Any,
        dns_cache: DNSCache,
        clock: IReactorTime,
        *,
        node_id: str | None = None,
        probe: Probe | None = None,
        dns_refresh_interval: float = 1.0,
    ) -> None:
        self._reactor = reactor
        self._dns = dns_cache
        self._clock = clock
        self.node_id = node_id or str(uuid.uuid4())
        self._probe = probe
        self._by_id: dict[str, Balancer] = {}
        self._by_name: dict[str, Balancer] = {}
        self._rows: dict[str, tuple[Mapping[str, Any], list[Mapping[str, Any]]]] = {}
        self._checkers: dict[str, ActiveHealthChecker] = {}
        self._answers: dict[tuple[str, str], Any] = {}
        self._resolving: set[tuple[str, str]] = set()
        self._refresh = LoopingCall(self._refresh_dns)
        self._refresh.clock = clock
        self._refresh_interval = dns_refresh_interval

    def get(self, upstream_name: str) -> Balancer | None:
        """The balancer of the upstream named ``upstream_name`` (hot path: one dict lookup)."""
        return self._by_name.get(upstream_name)

    def get_by_id(self, upstream_id: str) -> Balancer | None:
        """The balancer of the upstream with this id."""
        return self._by_id.get(upstream_id)

    def sync(
        self, upstream_rows: Iterable[Mapping[str, Any]], target_rows: Iterable[Mapping[str, Any]]
    ) -> Deferred[None]:
        """Apply a new configuration: create, update and remove balancers and checkers.

        Returns at once; the Deferred fires (never fails) once the hostname
        targets that were not in the DNS cache have been resolved and applied.
        """
        by_upstream: dict[str, list[Mapping[str, Any]]] = {}
        for row in target_rows:
            upstream = row.get("upstream") or {}
            by_upstream.setdefault(upstream.get("id") or "", []).append(row)
        to_resolve: list[tuple[str, str, str, int]] = []
        seen: set[str] = set()
        for up in upstream_rows:
            uid = up["id"]
            seen.add(uid)
            rows = by_upstream.get(uid, [])
            self._rows[uid] = (up, rows)
            answers: dict[str, Any] = {}
            for row in rows:
                host, port = parse_target(row["target"])
                if is_ip(host):
                    continue
                cached = self._dns.cached(host, port)
                if cached is not None:
                    answers[row["target"]] = cached
                    self._answers[(uid, row["target"])] = cached
                else:
                    to_resolve.append((uid, row["target"], host, port))
            balancer = self._by_id.get(uid)
            if balancer is None:
                balancer = Balancer(up, rows, self._clock, answers)
                self._by_id[uid] = balancer
            else:
                balancer.update(up, rows, answers)
            self._sync_checker(uid, balancer)
        for uid in list(self._by_id):
            if uid not in seen:
                self._remove(uid)
        self._by_name = {b.name: b for b in self._by_id.values()}
        # resolve only once every balancer exists: answers may arrive synchronously
        pending = [self._resolve(*args) for args in to_resolve]
        if any(
            not is_ip(parse_target(r["target"])[0]) for _, rows in self._rows.values() for r in rows
        ):
            if not self._refresh.running:
                self._refresh.start(self._refresh_interval, now=False).addErrback(
                    lambda f: _log.failure("DNS refresh loop crashed", f)
                )
        elif self._refresh.running:
            self._refresh.stop()
        return DeferredList(pending, consumeErrors=True).addCallback(lambda _: None)

    def _sync_checker(self, uid: str, balancer: Balancer) -> None:
        checker = self._checkers.get(uid)
        if not balancer.uses_active_checks:
            if checker is not None:
                checker.stop()
                del self._checkers[uid]
            return
        if checker is None:
            checker = self._checkers[uid] = ActiveHealthChecker(
                self._reactor, balancer, self._probe, clock=self._clock
            )
            checker.start()
        elif checker.config != balancer.active:
            checker.start()  # restarts with the new intervals / concurrency

    def _remove(self, uid: str) -> None:
        checker = self._checkers.pop(uid, None)
        if checker is not None:
            checker.stop()
        self._by_id.pop(uid, None)
        self._rows.pop(uid, None)
        for key in [k for k in self._answers if k[0] == uid]:
            del self._answers[key]

    def _resolve(self, uid: str, target: str, host: str, port: int) -> Deferred[None]:
        key = (uid, target)
        if key in self._resolving:
            return succeed(None)
        self._resolving.add(key)
        return Deferred.fromCoroutine(self._resolve_and_apply(uid, target, host, port))

    async def _resolve_and_apply(self, uid: str, target: str, host: str, port: int) -> None:
        try:
            try:
                result: Any = await self._dns.resolve(host, port)
            except DNSError as e:
                result = e
            self._apply(uid, target, result)
        except Exception:  # noqa: BLE001 - never let a refresh failure escape
            _log.failure("applying DNS answer for {target} failed", target=target)
        finally:
            self._resolving.discard((uid, target))

    def _apply(self, uid: str, target: str, result: Any) -> None:
        balancer, rows = self._by_id.get(uid), self._rows.get(uid)
        if balancer is None or rows is None or not any(r["target"] == target for r in rows[1]):
            return  # removed meanwhile
        key = (uid, target)
        old = self._answers.get(key)
        if (
            old is result
            or (old == result and not isinstance(result, Exception))
            or (isinstance(old, DNSError) and isinstance(result, DNSError))
        ):
            return
        self._answers[key] = result
        balancer.update(rows[0], rows[1], {target: result})

    def _refresh_dns(self) -> None:
        for uid, (_up, rows) in list(self._rows.items()):
            for row in rows:
                host, port = parse_target(row["target"])
                if is_ip(host):
                    continue
                cached = self._dns.cached(host, port)
                if cached is None:
                    self._resolve(uid, row["target"], host, port)
                else:
                    self._apply(uid, row["target"], cached)

    def health(self, upstream_row: Mapping[str, Any], balancer_health: bool) -> dict[str, Any]:
        """The ``GET /upstreams/{u}/health`` body for this node."""
        balancer = self._by_id.get(upstream_row["id"])
        if balancer is None:  # not in a snapshot yet: report it without targets
            balancer = Balancer(upstream_row, (), self._clock)
        return balancer.health_json(balancer_health, self.node_id)

    def set_health(
        self,
        upstream_row: Mapping[str, Any],
        target_row: Mapping[str, Any],
        address: str | None,
        healthy: bool,
    ) -> None:
        """Manual ``healthy``/``unhealthy`` override of a target or one of its addresses.

        :raises UnknownAddress: unknown upstream balancer, target or address.
        """
        balancer = self._by_id.get(upstream_row["id"])
        if balancer is None:
            raise UnknownAddress(f"no balancer for upstream {upstream_row.get('name')!r}")
        balancer.set_health(target_row["target"], address, healthy)

    def stop(self) -> None:
        """Stop every checker and the DNS refresh loop."""
        for checker in self._checkers.values():
            checker.stop()
        self._checkers.clear()
        if self._refresh.running:
            self._refresh.stop()
